"""Starting, stopping and inspecting a detached supervisor: what run-all and stop-all call."""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

from eventio.settings import (
    ALERTMANAGER_URL,
    ARCHIVE_BUCKET,
    DATABASE_URL,
    KAFKA_BOOTSTRAP_SERVERS,
    RUN_DIR,
    mask_url,
)
from infra import postgres, processes
from infra.components import database_url, python_path
from infra.ports import port_in_use
from infra.rundir import RunDir, tail
from infra.settings import (
    ALERTMANAGER_PORT,
    BRIDGE_PORT,
    GATEWAY_PORT,
    GATEWAY_URL,
    KAFKA_CONTROLLER_PORT,
    KAFKA_PORT,
    PG_PORT,
    Settings,
)

SUPERVISOR = "supervisor"
ALREADY_RUNNING = 3  # exit code of `supervise` when another supervisor holds the lock


def say(message: str = "") -> None:
    try:
        print(message, flush=True)
    except BrokenPipeError:
        # the reader (e.g. `| head`) left; keep working, stop talking
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - lives as long as the process


@contextlib.contextmanager
def control_lock(run: RunDir) -> Iterator[None]:
    """Serialise ``up`` and ``down`` on one run directory (blocking)."""
    run.create()
    with run.control_lock_file.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def recognise_own_env(settings: Settings) -> Settings:
    """Treat values a shell sourced from this run's own ``env`` file as the embedded services.

    After ``set -a; . .run/env`` the shell's KAFKA_BOOTSTRAP_SERVERS and
    DATABASE_URL name the embedded broker and cluster; read literally, a later
    run-all would wait for them as external services instead of starting them.
    The broker counts as ours when its address is the embedded one and this run
    dir holds its data; the database when the URL carries this run's password.
    """
    own_kafka = f"127.0.0.1:{settings.kafka_port}"
    if settings.external_kafka == own_kafka and (settings.run.kafka / "cluster.id").is_file():
        settings = replace(settings, external_kafka=None)
    url = settings.external_database_url
    if (
        url
        and postgres.password_file(settings).is_file()
        and url == postgres.database_url(settings)
    ):
        settings = replace(settings, external_database_url=None)
    return settings


# --- the supervisor's liveness --------------------------------------------------------


def supervisor_running(run: RunDir) -> bool:
    """True while some supervisor holds this run directory's lock."""
    if not run.lock_file.exists():
        return False
    with run.lock_file.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(handle, fcntl.LOCK_UN)
    return False


def supervisor_record(run: RunDir) -> processes.PidRecord | None:
    """The live supervisor's pid record, if its pidfile names a running process."""
    record = processes.read_pidfile(run.pidfile(SUPERVISOR))
    return record if record is not None and record.alive() else None


def read_status(run: RunDir) -> dict[str, Any] | None:
    try:
        status: dict[str, Any] = json.loads(run.status_file.read_text())
    except (OSError, ValueError):
        return None
    return status


# --- env file and summary -----------------------------------------------------------------


def env_lines(settings: Settings) -> dict[str, str]:
    return {
        KAFKA_BOOTSTRAP_SERVERS: settings.bootstrap_servers,
        DATABASE_URL: database_url(settings),
        GATEWAY_URL: settings.gateway_url,
        ALERTMANAGER_URL: settings.alertmanager_url,
        # for scripts/replay-archive.sh, which reads this file too
        **({ARCHIVE_BUCKET: settings.archive_bucket} if settings.archive_bucket else {}),
    }


def write_env_file(settings: Settings) -> None:
    """Write ``<run>/env`` (mode 0600: it holds the database password)."""
    path = settings.run.env_file
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        for key, value in env_lines(settings).items():
            handle.write(f"{key}={value}\n")
    tmp.replace(path)


def _shown(path: Path) -> str:
    """``path`` relative to the working directory when it is below it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def summary(settings: Settings, status: dict[str, Any]) -> str:
    """What is running, how to reach it, and what to try."""
    run = settings.run
    env_file = _shown(run.env_file)
    logs = _shown(run.logs)
    lines = [
        f"eventfn is running (supervisor pid {status['supervisor']['pid']}, "
        f"run dir {_shown(settings.run_dir)})",
    ]
    for item in status["components"]:
        lines.append(f"  {item['name']:<9} pid {item['pid']!s:<8} {item['describe']}")
    if settings.external_kafka:
        lines.append(f"  external Kafka at {settings.external_kafka}")
    if settings.external_database_url:
        lines.append(f"  external PostgreSQL at {mask_url(settings.external_database_url)}")
    if settings.external_alertmanager:
        lines.append(f"  external Alertmanager at {settings.external_alertmanager}")
    lines += ["", f"Client environment in {env_file}:"]
    for key, value in env_lines(settings).items():
        lines.append(f"  {key}={mask_url(value) if key == DATABASE_URL else value}")
    lines += [
        "",
        "Publish an event:",
        f"  curl -X POST http://localhost:{settings.gateway_port}/publish "
        '-H "Content-Type: application/json" -d \'{"type":"TEMP","value":"ALERT:90"}\'',
        "",
        "See what it did:",
        f"  set -a; . {env_file}; set +a",
        '  psql "$DATABASE_URL" -c \'select time, type, source, id, data, kafka_partition, '
        "kafka_offset from events order by seq desc limit 10'",
        '  psql "$DATABASE_URL" -c \'select updated_at, state, severity, rule, labels, '
        "event_count, event_id, message from alerts order by updated_at desc limit 10'",
        f"  tail -f {logs}/fn-alert.log",
        f"  Alertmanager: {settings.alertmanager_url}",
        "",
        f"Logs: {logs}/<component>.log    Stop: scripts/stop-all.sh",
    ]
    return "\n".join(lines)


def port_conflicts(settings: Settings) -> list[str]:
    """The ports this run would listen on that are taken or chosen twice."""
    wanted = [
        (settings.gateway_port, GATEWAY_PORT, "gateway"),
        (settings.bridge_port, BRIDGE_PORT, "bridge"),
    ]
    if settings.embedded_postgres:
        wanted.append((settings.pg_port, PG_PORT, "PostgreSQL"))
    if settings.embedded_alertmanager:
        wanted.append((settings.alertmanager_port, ALERTMANAGER_PORT, "Alertmanager"))
    if settings.embedded_kafka:
        wanted.append((settings.kafka_port, KAFKA_PORT, "Kafka"))
        wanted.append((settings.kafka_controller_port, KAFKA_CONTROLLER_PORT, "Kafka controller"))
    problems = []
    seen: dict[int, str] = {}
    for port, variable, what in wanted:
        if port in seen:
            problems.append(f"{port} is both {seen[port]} and {variable}; give each its own port")
        elif port_in_use(port):
            problems.append(f"{port} ({what}) is in use; stop what holds it or set {variable}")
        seen[port] = variable
    return problems


# --- up ------------------------------------------------------------------------------------


def up(settings: Settings, timeout: float = 240.0) -> int:
    """Start a detached supervisor unless one runs; return once all is healthy (0) or not (1)."""
    run = settings.run
    with control_lock(run):
        if supervisor_running(run):
            status = read_status(run)
            say("eventfn is already running; not starting anything.")
            if status is not None:
                say(summary(settings, status))
            return 0
        sweep(settings)
        conflicts = port_conflicts(settings)
        if conflicts:
            say("eventfn cannot start; these ports are taken:")
            for conflict in conflicts:
                say(f"  {conflict}")
            return 1
        run.status_file.unlink(missing_ok=True)
        child = _spawn_supervisor(settings)
    return _wait_ready(settings, child, timeout)


def _spawn_supervisor(settings: Settings) -> subprocess.Popen[bytes]:
    """Start ``python -m infra supervise`` in its own session; return once it holds its lock."""
    run = settings.run
    env = {**os.environ, RUN_DIR: str(settings.run_dir), "PYTHONPATH": python_path(settings)}
    with run.log(SUPERVISOR).open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "infra", "supervise"],
            env=env,
            cwd=settings.root,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    say(
        f"starting eventfn in the background (supervisor pid {child.pid}, run dir "
        f"{_shown(settings.run_dir)}) ..."
    )
    # Until the supervisor holds its lock, another `up` would think none runs.
    deadline = time.monotonic() + 30
    while not supervisor_running(run) and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    return child


def _wait_ready(settings: Settings, child: subprocess.Popen[bytes], timeout: float) -> int:
    run = settings.run
    deadline = time.monotonic() + timeout
    started = time.monotonic()
    reported: set[str] = set()
    while True:
        record = supervisor_record(run)
        status = read_status(run)
        if status is not None and record is not None and status["supervisor"]["pid"] == record.pid:
            for item in status["components"]:
                if item["state"] == "healthy" and item["name"] not in reported:
                    reported.add(item["name"])
                    say(f"  {item['name']} is up ({time.monotonic() - started:.1f}s)")
            state = status["supervisor"]["state"]
            if state == "ready":
                say()
                say(summary(settings, status))
                return 0
            if state in ("failed", "stopping", "stopped"):
                return _failed(settings, status["supervisor"].get("error") or state)
        code = child.poll()
        if code is not None and code != ALREADY_RUNNING:
            return _failed(settings, f"the supervisor exited with code {code}")
        if time.monotonic() > deadline:
            _failed(settings, f"not healthy after {timeout:.0f}s")
            say("stopping what was started ...")
            down(settings)
            return 1
        time.sleep(0.25)


def _failed(settings: Settings, reason: str) -> int:
    run = settings.run
    say(f"eventfn did not start: {reason}")
    status = read_status(run) or {"components": []}
    troubled = [c for c in status["components"] if c["state"] in ("starting", "backoff")]
    for item in troubled:
        exits = f", last exit code {item['last_exit']}" if item.get("last_exit") is not None else ""
        say(f"  {item['name']} is {item['state']} (restarts: {item['restarts']}{exits})")
    for name, lines in [(SUPERVISOR, 15)] + [(item["name"], 30) for item in troubled]:
        say(f"--- {_shown(run.log(name))} (last {lines} lines) ---")
        say(tail(run.log(name), lines))
    return 1


# --- down ----------------------------------------------------------------------------------


def down(settings: Settings, timeout: float = 150.0) -> int:
    """Stop the supervisor (which stops its components), then sweep anything left over."""
    run = settings.run
    with control_lock(run):
        record = supervisor_record(run)
        if record is not None:
            say(f"stopping eventfn (supervisor pid {record.pid}) ...")
            os.kill(record.pid, signal.SIGTERM)
            deadline = time.monotonic() + timeout
            while record.alive() and time.monotonic() < deadline:
                time.sleep(0.1)
            if record.alive():
                say(f"the supervisor did not stop within {timeout:.0f}s; killing it")
                processes.kill_group(record.pid, signal.SIGKILL)
        leftovers = sweep(settings)
    say("eventfn is stopped." if record is not None or leftovers else "eventfn is not running.")
    return 0


def sweep(settings: Settings) -> list[str]:
    """Kill what a dead supervisor left behind; return what was found.

    First the process groups named in the pidfiles, then any process that
    still carries ``EVENTFN_RUN_DIR=<this run dir>`` in its environment. The
    supervisor and each component run in sessions of their own, so that last
    scan spares this process's own session (a run-all.sh or stop-all.sh
    running next to this one) and anything on a terminal (a user's shell that
    exported the variable is not eventfn's to kill).
    """
    run = settings.run
    found: list[str] = []
    if run.pids.is_dir():
        for pidfile in sorted(run.pids.glob("*.pid")):
            record = processes.read_pidfile(pidfile)
            if record is not None:
                if record.alive():
                    found.append(f"{pidfile.stem} (pid {record.pid})")
                    processes.kill_group(record.pid, record.stop_signal, grace=20.0)
                else:
                    members = [
                        pid
                        for pid in processes.group_members(record.pid)
                        if processes.environ_of(pid).get(RUN_DIR) == str(settings.run_dir)
                    ]
                    if members:
                        found.append(f"{pidfile.stem} leftovers {members}")
                        processes.kill_processes(members)
            processes.remove_pidfile(pidfile)
    mine = processes.ancestors(os.getpid())
    my_session = os.getsid(0)
    strays = []
    for pid in processes.processes_with_env(RUN_DIR, str(settings.run_dir)):
        info = processes.proc_info(pid)
        if info and pid not in mine and info.session != my_session and not info.tty_nr:
            strays.append(pid)
    if strays:
        found.append(f"stray processes {strays}")
        processes.kill_processes(strays)
    for item in found:
        say(f"  cleaned up {item}")
    return found


# --- status --------------------------------------------------------------------------------


def show_status(settings: Settings) -> int:
    """Print what runs; exit 0 when the supervisor is alive, 1 when not."""
    run = settings.run
    status = read_status(run)
    if not supervisor_running(run):
        say("eventfn is not running.")
        return 1
    if status is None:
        say("eventfn's supervisor is running but has not reported yet.")
        return 0
    say(summary(settings, status))
    for item in status["components"]:
        if item["state"] != "healthy":
            say(f"  note: {item['name']} is {item['state']} (restarts: {item['restarts']})")
    return 0
