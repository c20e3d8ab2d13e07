"""The alert stage under faults: kill -9 of an alert instance in the middle of a
batch, the bridge's redelivery of that batch, and a replay of a whole batch
leave the same instances, counts and transitions as a run without them."""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import httpx
import orjson
import psycopg
import pytest

from gateway.registry import function_id
from infra import processes
from infra.ports import free_port
from infra.waiting import wait_until
from tests.support import running

pytestmark = [pytest.mark.integration, pytest.mark.faults]

RULES = """
rules:
  - {name: hot, type: TEMP, op: ">=", threshold: 80}
  - {name: hot-for, type: TEMP, op: ">=", threshold: 90, for: 20s}
"""
SENSORS = 40
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[tuple[httpx.Client, int]]:
    run_dir = tmp_path_factory.mktemp("alert-faults")
    rules = run_dir / "rules.yaml"
    rules.write_text(RULES)
    port = free_port()
    env = {
        "EVENTFN_RUN_DIR": str(run_dir),
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "EVENTFN_ALERT_RULES": str(rules),
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log") as process,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client, process.pid


def batches(run: str) -> list[list[dict]]:
    """Readings of SENSORS sensors over a minute (event time): some heat up and
    cool down again, some heat up for good, one batch a 10 s step."""
    steps = []
    for step in range(6):
        at = (T0 + timedelta(seconds=10 * step)).isoformat()
        batch = []
        for sensor in range(SENSORS):
            hot = (
                (sensor % 4 == 0 and step < 3)
                or sensor % 4 == 1
                or (sensor % 4 == 2 and step == 5)  # still pending at the end
            )
            for n in range(25):
                batch.append(
                    {
                        "specversion": "1.0",
                        "id": f"{run}-{step}-{sensor}-{n}",
                        "source": f"/{run}/sensor-{sensor}",
                        "type": "TEMP",
                        "time": at,
                        "data": {"value": 95 if hot else 20},
                    }
                )
        steps.append(batch)
    return steps


def invoke(client: httpx.Client, batch: list[dict]) -> httpx.Response:
    return client.post(
        f"/invoke/{function_id('eventfn', 'alert')}",
        content=orjson.dumps(batch),
        headers={"Content-Type": "application/cloudevents-batch+json"},
    )


def alert_instances(gateway_pid: int) -> list[int]:
    """The gateway's fdk processes of the alert function."""
    return [
        pid
        for pid in processes.all_pids()
        if gateway_pid in processes.ancestors(pid)
        and any(part.endswith("alert/func.py") for part in processes.cmdline_of(pid))
    ]


def outcome(database_url: str, run: str) -> tuple[list[tuple], list[tuple]]:
    """The run's instances and transitions, named without the run's own prefix."""
    with psycopg.connect(database_url) as conn:
        instances = conn.execute(
            "SELECT rule, replace(labels->>'source', %s, ''), state, event_count, transitions,"
            " event_id IS NOT NULL FROM alerts WHERE labels->>'source' LIKE %s ORDER BY 1, 2",
            (f"/{run}/", f"/{run}/%"),
        ).fetchall()
        transitions = conn.execute(
            "SELECT a.rule, replace(a.labels->>'source', %s, ''), t.seq, t.from_state, t.to_state"
            " FROM alert_transitions t JOIN alerts a ON a.id = t.alert_id"
            " WHERE a.labels->>'source' LIKE %s ORDER BY 1, 2, 3",
            (f"/{run}/", f"/{run}/%"),
        ).fetchall()
    return instances, transitions


def test_kill_9_and_replays_leave_what_a_clean_run_leaves(gateway, database_url):
    client, gateway_pid = gateway
    for batch in batches("clean"):
        assert invoke(client, batch).status_code == 200
    faulty = batches("faulty")
    for index, batch in enumerate(faulty):
        if index in (2, 4):
            # kill -9 the instance while it works on this batch, then redeliver it
            call = threading.Thread(target=invoke, args=(client, batch))
            call.start()
            victims = wait_until(
                lambda: alert_instances(gateway_pid) or None, timeout=10, what="an alert instance"
            )
            for pid in victims:
                os.kill(pid, signal.SIGKILL)
            call.join(60)
            wait_until(
                lambda b=batch: invoke(client, b).status_code == 200 or None,
                timeout=60,
                what="the batch redelivered",
            )
        else:
            assert invoke(client, batch).status_code == 200
        if index == 3:
            assert invoke(client, faulty[1]).status_code == 200, "a whole batch replayed"
    clean, faulty_outcome = outcome(database_url, "clean"), outcome(database_url, "faulty")
    instances, transitions = clean
    assert {"firing", "resolved", "pending"} <= {row[2] for row in instances}
    assert len(transitions) > SENSORS
    assert faulty_outcome == clean


def test_no_instance_counts_a_transition_it_has_not_recorded(database_url):
    with psycopg.connect(database_url) as conn:
        (broken,) = conn.execute(
            "SELECT count(*) FROM alerts a WHERE a.transitions <>"
            " (SELECT count(*) FROM alert_transitions t WHERE t.alert_id = a.id)"
        ).fetchone()
    assert broken == 0
