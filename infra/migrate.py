"""Apply ``infra/migrations/NNNN_name.sql`` in order, once each, recorded in ``schema_migrations``.

Each migration runs in its own transaction together with its record. A
session advisory lock serialises concurrent runners, and a migration whose file
changed after it was applied is refused rather than silently skipped.

Usage: ``python -m infra.migrate [--database-url URL] [--dir DIR]`` (default:
``$DATABASE_URL``, ``infra/migrations``).
"""

from __future__ import annotations

import argparse
import hashlib
import logging
import re
import sys
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg.rows import TupleRow

from eventio.settings import DATABASE_URL, mask_url
from infra.errors import ChecksumMismatchError, InfraError, MigrationError
from infra.settings import settings_for

log = logging.getLogger("infra.migrate")

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
# Any fixed 64-bit number; every runner against the same cluster must agree on it.
LOCK_KEY = 0x6576_656E_7466_6E01  # "eventfn" + 1
_FILENAME = re.compile(r"(\d{4})_([a-z0-9_]+)\.sql")

# Also written into the SQL that k8s/base/generated/migrations.yaml hands CloudNativePG
# (infra/k8s/cnpg.py), so a cluster it bootstraps reads as migrated to this tool.
HISTORY_TABLE_DDL = b"""
CREATE TABLE IF NOT EXISTS schema_migrations (
    version     integer     PRIMARY KEY,
    name        text        NOT NULL,
    checksum    text        NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
)
"""


@dataclass(frozen=True)
class Migration:
    """One SQL file: its version, name, text and sha256."""

    version: int
    name: str
    path: Path
    sql: bytes

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql).hexdigest()

    @property
    def label(self) -> str:
        return f"{self.version:04d}_{self.name}"


def load_migrations(directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Every ``NNNN_name.sql`` in ``directory``, ordered; misnamed or duplicate files are errors."""
    if not directory.is_dir():
        raise MigrationError(f"migrations folder {directory} does not exist")
    found: dict[int, Migration] = {}
    for path in sorted(directory.glob("*.sql")):
        match = _FILENAME.fullmatch(path.name)
        if match is None:
            raise MigrationError(
                f"{path.name}: migration files are named NNNN_lower_snake_name.sql"
            )
        version = int(match.group(1))
        if version in found:
            raise MigrationError(
                f"{path.name}: version {version:04d} is also {found[version].path.name}"
            )
        found[version] = Migration(version, match.group(2), path, path.read_bytes())
    return [found[v] for v in sorted(found)]


def apply_migrations(database_url: str, directory: Path = MIGRATIONS_DIR) -> list[Migration]:
    """Apply the pending migrations; return those applied now (empty when up to date)."""
    migrations = load_migrations(directory)
    try:
        conn = psycopg.connect(database_url, autocommit=True, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise MigrationError(f"cannot connect to {mask_url(database_url)}: {exc}") from None
    with conn:
        # session-level, so it spans the per-migration transactions below
        conn.execute("SELECT pg_advisory_lock(%s)", (LOCK_KEY,))
        try:
            return _apply_locked(conn, migrations)
        finally:
            conn.execute("SELECT pg_advisory_unlock(%s)", (LOCK_KEY,))


def _apply_locked(
    conn: psycopg.Connection[TupleRow], migrations: list[Migration]
) -> list[Migration]:
    conn.execute(HISTORY_TABLE_DDL)
    rows = conn.execute("SELECT version, name, checksum FROM schema_migrations").fetchall()
    applied = {int(v): (str(n), str(c)) for v, n, c in rows}
    by_version = {m.version: m for m in migrations}
    for version, (name, checksum) in sorted(applied.items()):
        migration = by_version.get(version)
        if migration is None:
            raise MigrationError(
                f"the database has migration {version:04d}_{name} applied, but there is no "
                f"such file; is this code older than the database?"
            )
        if migration.checksum != checksum:
            raise ChecksumMismatchError(version, name, checksum, migration.checksum)
    done = []
    for migration in migrations:
        if migration.version in applied:
            continue
        try:
            with conn.transaction():
                conn.execute(migration.sql)
                conn.execute(
                    "INSERT INTO schema_migrations (version, name, checksum) VALUES (%s, %s, %s)",
                    (migration.version, migration.name, migration.checksum),
                )
        except psycopg.Error as exc:
            raise MigrationError(f"migration {migration.label} failed: {exc}") from None
        log.info("applied migration %s", migration.label)
        done.append(migration)
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.migrate", description=__doc__)
    parser.add_argument("--database-url")
    parser.add_argument("--dir", type=Path, default=MIGRATIONS_DIR)
    args = parser.parse_args(argv)
    args.database_url = args.database_url or settings_for(parser).external_database_url
    if not args.database_url:
        parser.error(f"set {DATABASE_URL} or pass --database-url")
    try:
        done = apply_migrations(args.database_url, args.dir)
    except InfraError as exc:
        print(f"migrate: {exc}", file=sys.stderr)
        return 1
    target = mask_url(args.database_url)
    if done:
        print(f"applied {', '.join(m.label for m in done)} to {target}")
    else:
        print(f"{target} is up to date")
    return 0


if __name__ == "__main__":
    sys.exit(main())
