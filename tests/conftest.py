"""Session fixtures: a real Kafka broker and a real PostgreSQL cluster, started once.

Both run in a temporary run directory on free ports, so a test session never
collides with a ``scripts/run-all.sh`` on the default ports, and both are
started by the same infra code (plan steps and supervisor) that run-all uses.
Set ``KAFKA_BOOTSTRAP_SERVERS`` or ``DATABASE_URL`` to test against existing
services instead; topics and migrations are still ensured there (and the
tests empty the events and alerts tables). Values sourced from a running
run-all's ``.run/env`` do not count: the tests never touch that run's data.

Fixtures:

- ``kafka_bootstrap`` (session): bootstrap servers, topics created.
- ``postgres_server`` (session): the settings that PostgreSQL was started with.
- ``database_url`` (session): URL of a migrated database.
- ``clean_database`` (function): ``database_url`` after emptying events and alerts.
- ``db`` (function): an autocommit psycopg connection to the emptied database.
- ``s3_endpoint`` (session): URL of moto's S3 server (``python -m moto.server``),
  a real S3 HTTP endpoint on 127.0.0.1, for the archive's tests.
"""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import replace

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import TupleRow

from eventio.settings import mask_url
from infra.components import database_url as resolved_database_url
from infra.components import kafka_plan, postgres_plan
from infra.control import recognise_own_env
from infra.ports import free_port, free_ports
from infra.serving import stop
from infra.settings import Settings
from infra.supervisor import Supervisor
from infra.waiting import http_ready, wait_until

START_TIMEOUT = 240.0
# The tables the functions write; emptied between tests that ask for it.
DATA_TABLES = ("events", "alerts", "alert_transitions", "alert_windows", "alert_applied_events")


def base_settings() -> Settings:
    """The environment's settings, minus values that only name run-all's own services."""
    return recognise_own_env(Settings.from_env())


def pytest_report_header() -> list[str]:
    settings = base_settings()
    kafka = settings.external_kafka or "embedded (started for this session)"
    url = settings.external_database_url
    database = mask_url(url) if url else "embedded (started for this session)"
    return [f"eventfn kafka: {kafka}", f"eventfn postgres: {database}"]


@pytest.fixture(scope="session")
def kafka_bootstrap(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """Bootstrap servers of a real broker with the events, alerts and events.dlq topics."""
    broker, controller = free_ports(2)
    settings = replace(
        base_settings(),
        run_dir=tmp_path_factory.mktemp("kafka-run"),
        kafka_port=broker,
        kafka_controller_port=controller,
    )
    supervisor = Supervisor(kafka_plan(settings), settings.run, write_status=False)
    supervisor.start_in_background(START_TIMEOUT)
    try:
        yield settings.bootstrap_servers
    finally:
        supervisor.stop()


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Settings]:
    """The settings of the session's PostgreSQL (its superuser's socket, when embedded)."""
    (port,) = free_ports(1)
    settings = replace(
        base_settings(), run_dir=tmp_path_factory.mktemp("postgres-run"), pg_port=port
    )
    supervisor = Supervisor(postgres_plan(settings), settings.run, write_status=False)
    supervisor.start_in_background(START_TIMEOUT)
    try:
        yield settings
    finally:
        supervisor.stop()


@pytest.fixture(scope="session")
def database_url(postgres_server: Settings) -> str:
    """URL of a real PostgreSQL database with every migration applied."""
    return resolved_database_url(postgres_server)


def empty_tables(conn: psycopg.Connection[TupleRow]) -> None:
    """Remove every row the functions wrote; the schema stays."""
    tables = sql.SQL(", ").join(sql.Identifier(name) for name in DATA_TABLES)
    # A running alert function (the schedule pings it) may hold row locks in
    # these tables in another order: PostgreSQL then ends one side with a
    # deadlock, and the TRUNCATE is simply tried again.
    for attempt in range(5):
        try:
            conn.execute(sql.SQL("TRUNCATE {}").format(tables))
            return
        except psycopg.errors.DeadlockDetected:
            if attempt == 4:
                raise
            time.sleep(0.2)


@pytest.fixture
def clean_database(database_url: str) -> str:
    """``database_url``, with the events and alerts tables emptied first."""
    with psycopg.connect(database_url, autocommit=True) as conn:
        empty_tables(conn)
    return database_url


@pytest.fixture
def db(clean_database: str) -> Iterator[psycopg.Connection[TupleRow]]:
    """An autocommit connection to the emptied test database."""
    with psycopg.connect(clean_database, autocommit=True) as conn:
        yield conn


@pytest.fixture(scope="session")
def s3_endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a real S3 HTTP endpoint: moto's server, in a process of its own."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        wait_until(
            lambda: process.poll() is not None or http_ready(f"{url}/moto-api/"),
            timeout=60,
            what="moto's S3 server",
        )
        assert process.poll() is None, log_path.read_text(errors="replace")[-2000:]
        yield url
    finally:
        stop(process, grace_s=5)
