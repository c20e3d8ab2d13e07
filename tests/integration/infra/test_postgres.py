"""A private embedded PostgreSQL cluster: initdb once, credentials, crash restart, fast stop."""

from __future__ import annotations

import os
import pwd
import signal
from dataclasses import replace
from pathlib import Path

import psycopg
import pytest

from infra import postgres
from infra.components import postgres_plan
from infra.ports import free_port
from infra.settings import Settings
from infra.supervisor import Supervisor
from infra.waiting import wait_until
from tests.integration.infra.helpers import describe, eventfn_processes

pytestmark = pytest.mark.integration


def test_cluster_survives_a_killed_postmaster_and_keeps_its_data(tmp_path: Path):
    settings = replace(Settings.from_env({}), run_dir=tmp_path / "run", pg_port=free_port())
    url = postgres.database_url(settings)
    supervisor = Supervisor(postgres_plan(settings), settings.run, write_status=False, tick=0.05)
    supervisor.start_in_background(timeout=120)
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(
                "INSERT INTO alerts (id, rule, group_key, labels, state, event_source, event_id)"
                " VALUES ('a1', 'r', '{}', '{}', 'firing', 's', 'e')"
            )
        assert oct(postgres.password_file(settings).stat().st_mode & 0o777) == "0o600"
        data = postgres.data_dir(settings)
        expected_owner = "postgres" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
        assert pwd.getpwuid(data.stat().st_uid).pw_name == expected_owner
        first = supervisor.pid_of("postgres")
        assert first is not None

        os.kill(first, signal.SIGKILL)

        def back() -> bool:
            pid = supervisor.pid_of("postgres")
            return pid not in (None, first) and postgres.url_ready(url)

        wait_until(back, timeout=60, what="PostgreSQL to be restarted")
        with psycopg.connect(url) as conn:
            assert conn.execute("SELECT id FROM alerts").fetchall() == [("a1",)]
        # the password only opens the door over TCP
        wrong = url.replace(postgres.ensure_password(settings), "wrong")
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(wrong, connect_timeout=5).close()
    finally:
        supervisor.stop()
    left = eventfn_processes(settings.run_dir)
    assert left == [], describe(left)
    # the restart reused the cluster: initdb ran once
    log = settings.run.log("postgres").read_text()
    assert log.count("=== initdb ===") == 1


def test_a_deep_run_dir_gets_a_short_private_socket_folder(tmp_path: Path):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    settings = replace(Settings.from_env({}), run_dir=deep)
    folder = postgres.socket_dir(settings)
    assert len(f"{folder}/.s.PGSQL.65535") < 108
    assert folder == postgres.socket_dir(replace(settings)), "stable for the same run dir"
    shallow = replace(settings, run_dir=tmp_path)
    assert postgres.socket_dir(shallow) == tmp_path / "postgres" / "sock"
