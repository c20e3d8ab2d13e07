"""Migrations against the real PostgreSQL: applied once, recorded, changes refused, concurrent-safe.

Each test works in a fresh schema of the session database (via ``search_path``)
so it starts from nothing without needing the right to create databases.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from eventcore.instances import key
from eventcore.rules import load_rules
from infra.errors import ChecksumMismatchError, MigrationError
from infra.migrate import MIGRATIONS_DIR, Migration, apply_migrations, load_migrations
from infra.settings import ROOT

pytestmark = pytest.mark.integration


@pytest.fixture
def fresh_schema(database_url: str) -> Iterator[str]:
    """A conninfo whose search_path is a new, empty schema (dropped afterwards)."""
    schema = f"migtest_{secrets.token_hex(4)}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    try:
        yield make_conninfo(database_url, options=f"-c search_path={schema}")
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def recorded(conninfo: str) -> list[tuple[int, str, str]]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute("SELECT version, name, checksum FROM schema_migrations ORDER BY 1")
        return [(int(v), str(n), str(c)) for v, n, c in rows.fetchall()]


def tables(conninfo: str) -> set[str]:
    with psycopg.connect(conninfo) as conn:
        rows = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        ).fetchall()
        return {str(name) for (name,) in rows}


def test_applies_every_migration_once_and_records_it(fresh_schema: str):
    expected = load_migrations()
    assert [m.label for m in expected][:2] == ["0001_events", "0002_alerts"]

    first = apply_migrations(fresh_schema)
    again = apply_migrations(fresh_schema)

    assert [m.version for m in first] == [m.version for m in expected]
    assert again == []
    assert recorded(fresh_schema) == [(m.version, m.name, m.checksum) for m in expected]
    assert {"events", "alerts", "schema_migrations"} <= tables(fresh_schema)


def test_a_changed_applied_migration_is_refused(fresh_schema: str, tmp_path: Path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    apply_migrations(fresh_schema, folder)
    changed = folder / "0001_events.sql"
    changed.write_text(changed.read_text() + "\n-- an innocent-looking edit\n")

    with pytest.raises(ChecksumMismatchError, match="0001_events") as failure:
        apply_migrations(fresh_schema, folder)

    assert failure.value.version == 1
    # nothing new was recorded while refusing
    assert [v for v, _, _ in recorded(fresh_schema)] == [m.version for m in load_migrations()]


def test_a_new_migration_is_applied_after_the_others(fresh_schema: str, tmp_path: Path):
    folder = tmp_path / "migrations"
    shutil.copytree(MIGRATIONS_DIR, folder)
    apply_migrations(fresh_schema, folder)
    (folder / "9999_extra.sql").write_text("CREATE TABLE extra (id int PRIMARY KEY);\n")

    applied = apply_migrations(fresh_schema, folder)

    assert [m.label for m in applied] == ["9999_extra"]
    assert "extra" in tables(fresh_schema)


def test_concurrent_runners_apply_each_migration_once(fresh_schema: str):
    start = threading.Barrier(3)
    results: list[list[Migration]] = []
    errors: list[BaseException] = []

    def runner() -> None:
        start.wait()
        try:
            results.append(apply_migrations(fresh_schema))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=runner) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert errors == []
    applied = sorted(m.version for result in results for m in result)
    assert applied == [m.version for m in load_migrations()]


def test_a_failing_migration_leaves_no_trace(fresh_schema: str, tmp_path: Path):
    folder = tmp_path / "migrations"
    folder.mkdir()
    (folder / "0001_half.sql").write_text("CREATE TABLE half (id int);\nSELECT no_such_fn();\n")

    with pytest.raises(MigrationError, match="0001_half"):
        apply_migrations(fresh_schema, folder)

    assert "half" not in tables(fresh_schema)
    assert recorded(fresh_schema) == []


def test_misnamed_files_are_refused(tmp_path: Path):
    (tmp_path / "1_short.sql").write_text("SELECT 1;")
    with pytest.raises(MigrationError, match="NNNN_lower_snake_name"):
        load_migrations(tmp_path)


def test_command_line_applies_then_reports_up_to_date(fresh_schema: str):
    env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}"}
    env.pop("DATABASE_URL", None)

    def migrate(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "infra.migrate", "--database-url", fresh_schema, *args],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    first, second = migrate(), migrate()

    assert first.returncode == 0, first.stderr
    assert "applied 0001_events, 0002_alerts" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "up to date" in second.stdout
    password = psycopg.conninfo.conninfo_to_dict(fresh_schema).get("password")
    assert password
    assert str(password) not in first.stdout + second.stdout


def test_alerts_raised_before_alerts_had_state_become_resolved_instances(
    fresh_schema: str, tmp_path: Path
):
    early = tmp_path / "early"
    early.mkdir()
    for migration in load_migrations()[:2]:
        shutil.copy(migration.path, early / migration.path.name)
    apply_migrations(fresh_schema, early)
    with psycopg.connect(fresh_schema, autocommit=True) as conn:
        odd = '/s\u00e9n"s\n'  # non-ASCII, a quote and a newline, as JSON must spell them
        for n, (source, at) in enumerate([(odd, "10:00"), (odd, "10:05"), ("/b", "11:00")]):
            conn.execute(
                "INSERT INTO alerts (id, rule, severity, message, event_source, event_id, "
                "event_type, value, threshold, created_at) "
                "VALUES (%s, 'hot', 'critical', %s, %s, %s, 'TEMP', 91, 80, %s)",
                (f"a{n}", f"message {n}", source, f"e{n}", f"2026-01-01 {at}+00"),
            )
    apply_migrations(fresh_schema)
    (hot,) = load_rules("rules: [{name: hot, type: TEMP, threshold: 80}]")
    with psycopg.connect(fresh_schema) as conn:
        rows = conn.execute(
            "SELECT id, state, event_count, first_event_id, event_id, message, labels "
            "FROM alerts ORDER BY event_count DESC"
        ).fetchall()
    assert [row[1:6] for row in rows] == [
        ("resolved", 2, "e0", "e1", "message 1"),
        ("resolved", 1, "e2", "e2", "message 2"),
    ]
    # named as the alert stage names the instance of that rule and group
    for row in rows:
        assert row[0] == key(hot, row[6]).id
