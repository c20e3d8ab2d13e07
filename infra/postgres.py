"""The embedded PostgreSQL cluster: Debian's binaries, a project-local data dir, its own port.

The server runs as the ``postgres`` system user when eventfn runs as root
(PostgreSQL refuses root), as the current user otherwise. Local socket
connections are trusted but the socket lives in a 0700 folder only that user
(and root) can enter; TCP on 127.0.0.1 needs the ``eventfn`` role's password,
which is generated once and kept in ``<run>/postgres/password`` (mode 0600).
"""

from __future__ import annotations

import hashlib
import logging
import os
import pwd
import re
import secrets
import shutil
import signal
import stat
import subprocess
from pathlib import Path

import psycopg
from psycopg import sql
from psycopg.rows import TupleRow

from infra.debian import apt_install
from infra.errors import SetupError, StartupError
from infra.rundir import tail
from infra.settings import Settings
from infra.supervisor import Component
from infra.waiting import wait_until

log = logging.getLogger("infra.postgres")

PG_ROOT = Path("/usr/lib/postgresql")
SYSTEM_USER = "postgres"  # who runs the server when we are root
SUPERUSER = "postgres"  # the cluster's bootstrap superuser, whoever runs it
APP_ROLE = "eventfn"
APP_DATABASE = "eventfn"
# sun_path is 108 bytes; PostgreSQL appends "/.s.PGSQL.<port>"
_MAX_SOCKET_DIR = 107 - len("/.s.PGSQL.65535")


# --- binaries -------------------------------------------------------------------------


def find_bindir() -> Path | None:
    """The newest installed Debian PostgreSQL ``bin`` folder with initdb and postgres."""
    found: list[tuple[int, Path]] = []
    if PG_ROOT.is_dir():
        for entry in PG_ROOT.iterdir():
            bindir = entry / "bin"
            has_binaries = (bindir / "initdb").is_file() and (bindir / "postgres").is_file()
            if re.fullmatch(r"\d+", entry.name) and has_binaries:
                found.append((int(entry.name), bindir))
    return max(found)[1] if found else None


def ensure_installed() -> Path:
    """Return the binaries' folder, installing Debian's ``postgresql`` package if missing."""
    bindir = find_bindir()
    if bindir is not None:
        return bindir
    apt_install("postgresql", "PostgreSQL server binaries under /usr/lib/postgresql")
    bindir = find_bindir()
    if bindir is None:
        raise SetupError("installed the postgresql package but found no initdb under /usr/lib")
    return bindir


# --- layout and credentials ----------------------------------------------------------


def run_as() -> str | None:
    """The system user the server must run as, or None for the current user."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(SYSTEM_USER)
    except KeyError:
        raise SetupError(
            f"running as root, PostgreSQL needs the '{SYSTEM_USER}' system user, which does not "
            "exist; install Debian's postgresql package or run eventfn as a normal user"
        ) from None
    return SYSTEM_USER


def data_dir(settings: Settings) -> Path:
    return settings.run.postgres / "data"


def socket_dir(settings: Settings) -> Path:
    """Where the server's Unix socket lives; a short /tmp path if the run dir is too deep."""
    preferred = settings.run.postgres / "sock"
    if len(str(preferred)) <= _MAX_SOCKET_DIR:
        return preferred
    digest = hashlib.sha256(str(settings.run_dir).encode()).hexdigest()[:12]
    return Path("/tmp") / f"eventfn-pg-{digest}"  # noqa: S108 - private 0700 folder


def password_file(settings: Settings) -> Path:
    return settings.run.postgres / "password"


def ensure_password(settings: Settings) -> str:
    """The ``eventfn`` role's password, generated (mode 0600) the first time."""
    path = password_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        return path.read_text().strip()
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_urlsafe(24) + "\n")
    return path.read_text().strip()


def database_url(settings: Settings) -> str:
    """The URL of the embedded cluster's ``eventfn`` database (contains the password)."""
    password = ensure_password(settings)
    return f"postgresql://{APP_ROLE}:{password}@127.0.0.1:{settings.pg_port}/{APP_DATABASE}"


def _owned_folder(path: Path, user: str | None) -> None:
    """Create ``path`` as a 0700 folder owned by ``user`` (or by us)."""
    path.mkdir(parents=True, exist_ok=True)
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)
    path.chmod(0o700)


def ensure_traversable(path: Path) -> None:
    """Give 'others' search (x) permission on ``path``'s ancestors that lack it.

    Needed when we are root and the server runs as ``postgres``: it must be able
    to walk down to its data folder (pytest's temp folders are 0700, for one).
    """
    for folder in [path, *path.parents]:
        mode = folder.stat().st_mode
        if not mode & stat.S_IXOTH:
            folder.chmod(stat.S_IMODE(mode) | stat.S_IXOTH)
            log.info("made %s traversable (o+x) for the %s user", folder, SYSTEM_USER)


# --- cluster ---------------------------------------------------------------------------


def init_cluster(settings: Settings, bindir: Path) -> None:
    """Run initdb the first time; later calls only fix the socket folder."""
    user = run_as()
    base = settings.run.postgres
    base.mkdir(parents=True, exist_ok=True)
    if user is not None:
        ensure_traversable(base)
    ensure_password(settings)
    _owned_folder(socket_dir(settings), user)
    if (data_dir(settings) / "PG_VERSION").is_file():
        return
    # initdb into a side folder renamed at the end: a half-initialised
    # cluster never passes for a real one
    staging = base / "data.init"
    shutil.rmtree(staging, ignore_errors=True)
    _owned_folder(staging, user)
    argv = [
        str(bindir / "initdb"),
        "-D",
        str(staging),
        "-U",
        SUPERUSER,
        "-E",
        "UTF8",
        "--no-locale",
        "--auth-local=trust",
        "--auth-host=scram-sha-256",
        "--no-instructions",
    ]
    log_path = settings.run.log("postgres")
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as out:
        out.write(b"=== initdb ===\n")
        out.flush()
        pw = pwd.getpwnam(user) if user else None
        result = subprocess.run(
            argv,
            cwd=base,
            stdout=out,
            stderr=subprocess.STDOUT,
            user=pw.pw_uid if pw else None,
            group=pw.pw_gid if pw else None,
            extra_groups=[] if pw else None,
            check=False,
        )
    if result.returncode != 0:
        raise StartupError(
            f"initdb failed (exit {result.returncode}); {log_path}:\n{tail(log_path, 20)}"
        )
    staging.rename(data_dir(settings))


def server_command(settings: Settings, bindir: Path) -> tuple[str, ...]:
    """The postmaster in the foreground; settings on the command line so port changes apply."""
    options = {
        "listen_addresses": "127.0.0.1",
        "port": str(settings.pg_port),
        "unix_socket_directories": str(socket_dir(settings)),
        "unix_socket_permissions": "0700",
        "logging_collector": "off",
        "max_connections": "200",
    }
    argv = [str(bindir / "postgres"), "-D", str(data_dir(settings))]
    for key, value in options.items():
        argv += ["-c", f"{key}={value}"]
    return tuple(argv)


def superuser_connect(settings: Settings) -> psycopg.Connection[TupleRow]:
    """An autocommit superuser connection over the private Unix socket."""
    return psycopg.connect(
        host=str(socket_dir(settings)),
        port=settings.pg_port,
        user=SUPERUSER,
        dbname="postgres",
        autocommit=True,
        connect_timeout=3,
    )


def server_ready(settings: Settings) -> bool:
    """True when the server accepts a superuser connection and answers a query."""
    with superuser_connect(settings) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def url_ready(url: str) -> bool:
    """True when ``url`` accepts a connection and answers ``SELECT 1``."""
    with psycopg.connect(url, connect_timeout=3) as conn:
        return conn.execute("SELECT 1").fetchone() == (1,)


def bootstrap(settings: Settings) -> None:
    """Create (or re-password) the ``eventfn`` role and its database; idempotent."""
    password = ensure_password(settings)
    with superuser_connect(settings) as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (APP_ROLE,)).fetchone()
        verb = sql.SQL("ALTER ROLE" if exists else "CREATE ROLE")
        conn.execute(
            sql.SQL("{} {} LOGIN PASSWORD {}").format(
                verb, sql.Identifier(APP_ROLE), sql.Literal(password)
            )
        )
        has_db = conn.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (APP_DATABASE,)
        ).fetchone()
        if not has_db:
            conn.execute(
                sql.SQL("CREATE DATABASE {} OWNER {}").format(
                    sql.Identifier(APP_DATABASE), sql.Identifier(APP_ROLE)
                )
            )
    url = database_url(settings)
    wait_until(lambda: url_ready(url), timeout=30, what="the eventfn database over TCP")


def component(settings: Settings) -> Component:
    """The supervised PostgreSQL server (installs the Debian package if it is missing)."""
    bindir = ensure_installed()
    return Component(
        name="postgres",
        argv=server_command(settings, bindir),
        health=lambda: server_ready(settings),
        cwd=settings.run.postgres,
        user=run_as(),
        prepare=lambda: init_cluster(settings, bindir),
        on_first_healthy=lambda: bootstrap(settings),
        # SIGINT is the fast shutdown; SIGTERM would wait for every client to leave
        stop_signal=signal.SIGINT,
        stop_timeout=30.0,
        describe=f"PostgreSQL {bindir.parent.name} on 127.0.0.1:{settings.pg_port}",
    )
