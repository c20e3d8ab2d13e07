"""The README's way: scripts/run-all.sh with embedded Kafka and PostgreSQL, curl, stop-all.sh.

Nothing is passed in: the scripts start a broker and a database of their own,
in a temporary run directory on free ports, next to anything else running.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import psycopg
import pytest

from infra.ports import free_ports
from infra.waiting import WaitTimeoutError, wait_until
from tests.clients import FN_CLI
from tests.integration.infra.helpers import describe, eventfn_processes
from tests.support import ROOT

pytestmark = pytest.mark.e2e

# What a developer's shell may hold that would point the run elsewhere.
_FOREIGN = ("KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "GATEWAY_URL", "PORT", "ALERTMANAGER_URL")


def script(
    name: str, env: dict[str, str], timeout_s: float = 300
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name)], env=env, capture_output=True, text=True, timeout=timeout_s
    )


def read_env(run_dir: Path) -> dict[str, str]:
    pairs = (
        line.split("=", 1) for line in (run_dir / "env").read_text().splitlines() if "=" in line
    )
    return {key: value for key, value in pairs}


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> Iterator[tuple[Path, dict[str, str]]]:
    run_dir = tmp_path_factory.mktemp("e2e-run")
    kafka, controller, pg, gateway, bridge, alertmanager = free_ports(6)
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("EVENTFN_") and k not in _FOREIGN
    }
    env.update(
        EVENTFN_RUN_DIR=str(run_dir),
        EVENTFN_KAFKA_PORT=str(kafka),
        EVENTFN_KAFKA_CONTROLLER_PORT=str(controller),
        EVENTFN_PG_PORT=str(pg),
        PORT=str(gateway),
        EVENTFN_BRIDGE_PORT=str(bridge),
        EVENTFN_ALERTMANAGER_PORT=str(alertmanager),
    )
    started = script("run-all.sh", env)
    try:
        assert started.returncode == 0, started.stdout + started.stderr
        yield run_dir, env
    finally:
        script("stop-all.sh", env)


def test_the_curl_of_the_original_system_becomes_a_row_an_alert_and_a_log_line(run):
    run_dir, _ = run
    published = read_env(run_dir)
    assert set(published) >= {"KAFKA_BOOTSTRAP_SERVERS", "DATABASE_URL", "GATEWAY_URL"}
    answer = subprocess.run(
        [
            "curl",
            "-sS",
            "-w",
            "\n%{http_code}",
            "-X",
            "POST",
            f"{published['GATEWAY_URL']}/publish",
            "-H",
            "Content-Type: application/json",
            "-d",
            '{"type":"TEMP","value":"ALERT:90"}',
        ],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    )
    body, status = answer.stdout.rsplit("\n", 1)
    assert status == "202"
    event_id = orjson.loads(body)["id"]
    accepted = time.monotonic()

    with psycopg.connect(published["DATABASE_URL"], autocommit=True) as db:

        def seen(sql: str) -> bool:
            return db.execute(sql, (event_id,)).fetchone()[0] == 1

        wait_until(
            lambda: seen("select count(*) from events where id = %s"), timeout=5, what="the row"
        )
        wait_until(
            lambda: seen("select count(*) from alerts where event_id = %s and state = 'firing'"),
            timeout=5,
            what="the alert",
        )
    log = run_dir / "logs" / "fn-alert.log"
    wait_until(lambda: event_id in log.read_text(), timeout=5, what="the alert line")
    assert time.monotonic() - accepted < 5


def fn(run_dir: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real fn CLI against this run's gateway, with a home of its own."""
    home = run_dir / "fn-home"
    home.mkdir(exist_ok=True)
    env = {"PATH": os.environ["PATH"], "HOME": str(home)}
    env["FN_API_URL"] = read_env(run_dir)["GATEWAY_URL"]
    return subprocess.run(
        [str(FN_CLI), *args], input=stdin, env=env, capture_output=True, text=True, timeout=60
    )


needs_fn_cli = pytest.mark.skipif(
    not FN_CLI.exists(),
    reason="the fn CLI is not installed (scripts/lib/clients.sh says why; "
    "EVENTFN_FN_CLI=/path/to/fn uses one built elsewhere)",
)


@needs_fn_cli
def test_fn_invoke_publish_with_the_original_event_reaches_postgresql(run):
    run_dir, _ = run
    listed = fn(run_dir, "list", "functions", "eventfn")
    assert listed.returncode == 0, listed.stderr
    assert {line.split()[0] for line in listed.stdout.splitlines()[1:]} == {
        "alert",
        "archive",
        "persist",
        "publish",
    }
    invoked = fn(
        run_dir, "invoke", "eventfn", "publish", stdin='{"type":"TEMP","value":"ALERT:90"}'
    )
    assert invoked.returncode == 0, invoked.stderr
    event_id = orjson.loads(invoked.stdout)["id"]
    with psycopg.connect(read_env(run_dir)["DATABASE_URL"], autocommit=True) as db:
        wait_until(
            lambda: (
                db.execute("select count(*) from events where id = %s", (event_id,)).fetchone()[0]
                == 1
            ),
            timeout=5,
            what="the row",
        )


@needs_fn_cli
def test_fn_lists_inspects_creates_and_deletes_as_against_fn_server(run):
    run_dir, _ = run
    apps = fn(run_dir, "list", "apps")
    assert apps.stdout.split()[:3] == ["NAME", "ID", "eventfn"]
    triggers = fn(run_dir, "list", "triggers", "eventfn")
    assert "/t/eventfn/publish" in triggers.stdout
    inspected = orjson.loads(fn(run_dir, "inspect", "function", "eventfn", "publish").stdout)
    endpoint = inspected["annotations"]["fnproject.io/fn/invokeEndpoint"]
    assert endpoint == f"{read_env(run_dir)['GATEWAY_URL']}/invoke/{inspected['id']}"
    steps = [
        (("create", "app", "cli-app"), "Successfully created app:  cli-app"),
        (
            ("create", "function", "cli-app", "echo", "eventfn/publish:0.1.0"),
            "Successfully created function: echo with eventfn/publish:0.1.0",
        ),
        (("delete", "function", "cli-app", "echo"), "Function echo deleted"),
        (("delete", "app", "cli-app"), "App cli-app deleted"),
    ]
    for args, printed in steps:
        done = fn(run_dir, *args)
        assert done.returncode == 0, done.stderr
        assert printed in done.stdout
    assert "cli-app" not in fn(run_dir, "list", "apps").stdout


def test_a_second_run_all_starts_nothing_new(run):
    run_dir, env = run
    before = sorted(eventfn_processes(run_dir))
    again = script("run-all.sh", env)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert sorted(eventfn_processes(run_dir)) == before


def test_stop_all_leaves_no_eventfn_process(run):
    run_dir, env = run
    assert eventfn_processes(run_dir), "nothing ran to begin with"
    stopped = script("stop-all.sh", env)
    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    try:
        wait_until(
            lambda: not eventfn_processes(run_dir), timeout=20, what="every eventfn process to end"
        )
    except WaitTimeoutError:
        raise AssertionError(f"still running: {describe(eventfn_processes(run_dir))}") from None
