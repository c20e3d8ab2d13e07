"""A killed bridge, with the settings users run: its successor feeds PostgreSQL
again within seconds, not after the dead consumers' sessions (45 s) expire.

The bridge joins its groups as static members (``group.instance.id``), so the
restarted process takes its partitions back at once. Kills are spaced past the
supervisor's ``stable_after_s``, as crashes are in life: each restart then
waits the first backoff step, not a crash loop's.
"""

from __future__ import annotations

import os
import signal
import statistics
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from infra.supervisor import Component
from infra.waiting import wait_until
from tests.faults.stack import Stack, running

pytestmark = pytest.mark.faults

KILLS = 5
STABLE_S = Component("bridge", (), health=lambda: True).stable_after_s


@dataclass(frozen=True)
class Pipeline:
    stack: Stack
    db: psycopg.Connection[Any]
    http: httpx.Client


@pytest.fixture
def pipeline(tmp_path: Path) -> Iterator[Pipeline]:
    """The whole stack at the settings users run, a database connection and a
    client of the gateway."""
    with (
        running(tmp_path / "run", {}, inherit_eventfn=False) as stack,
        psycopg.connect(stack.database_url, autocommit=True) as db,
        httpx.Client(base_url=stack.gateway_url, timeout=30) as http,
    ):
        yield Pipeline(stack, db, http)


@pytest.mark.timeout(400)
def test_after_kill_9_of_the_bridge_the_next_event_is_stored_within_seconds(pipeline):
    stack, db, http = pipeline.stack, pipeline.db, pipeline.http

    def publish() -> str:
        answer = http.post("/publish", json={"type": "LOG", "value": "recovery"})
        assert answer.status_code == 202, answer.text
        return answer.json()["id"]

    def stored(event_id: str) -> bool:
        row = db.execute("select count(*) from events where id = %s", (event_id,)).fetchone()
        return row is not None and row[0] == 1

    first = publish()
    wait_until(lambda: stored(first), timeout=60, what="the first event's row")
    recoveries = []
    for _ in range(KILLS):
        stable_at = time.monotonic() + STABLE_S
        wait_until(
            lambda at=stable_at: stack.healthy("bridge") and time.monotonic() > at,
            timeout=60,
            what="the bridge to have run for the supervisor's stable period",
        )
        bridge = stack.pid("bridge")
        assert bridge is not None
        os.kill(bridge, signal.SIGKILL)
        killed = time.monotonic()
        event_id = publish()
        wait_until(lambda event=event_id: stored(event), timeout=120, interval=0.05, what="the row")
        recoveries.append(time.monotonic() - killed)
        wait_until(
            lambda dead=bridge: stack.pid("bridge") not in (None, dead) and stack.healthy("bridge"),
            timeout=60,
            what="the restarted bridge",
        )
    print("seconds from kill -9 to the next row:", [round(s, 2) for s in recoveries])
    # Without static membership each of these took the session timeout, 45 s.
    assert statistics.median(recoveries) <= 5.0, recoveries
    assert max(recoveries) < 20.0, recoveries


@pytest.mark.timeout(480)
def test_a_stopped_gateway_bridge_or_broker_is_replaced_and_nothing_is_lost(pipeline):
    stack, db, http = pipeline.stack, pipeline.db, pipeline.http
    acknowledged: list[str] = []

    def publish(count: int) -> None:
        """``count`` events, each tried again until acknowledged."""
        for _ in range(count):
            for _attempt in range(30):
                try:
                    answer = http.post("/publish", json={"type": "LOG", "value": "stop"})
                except httpx.HTTPError:
                    continue
                if answer.status_code == 202:
                    acknowledged.append(answer.json()["id"])
                    break
            else:
                raise AssertionError("publish never recovered")

    replaced_after = {}
    for component in ("gateway", "bridge", "kafka"):
        publish(20)
        stopped = stack.pid(component)
        assert stopped is not None
        os.kill(stopped, signal.SIGSTOP)
        at = time.monotonic()
        wait_until(
            lambda name=component, old=stopped: stack.pid(name) not in (None, old),
            timeout=60,
            interval=0.05,
            what=f"the stopped {component} to be replaced",
        )
        replaced_after[component] = time.monotonic() - at
        wait_until(stack.all_healthy, timeout=120, what="every component healthy again")
        assert "not answering its liveness check" in stack.log(component).read_text()
    publish(20)

    def stored() -> int:
        row = db.execute(
            "select count(*) from events where id = any(%s)", (acknowledged,)
        ).fetchone()
        return 0 if row is None else row[0]

    wait_until(lambda: stored() == len(acknowledged), timeout=120, what="every acknowledged row")
    print("seconds from SIGSTOP to a new process:", replaced_after)
    assert all(seconds <= 15.0 for seconds in replaced_after.values()), replaced_after
    assert len(set(acknowledged)) == len(acknowledged) == 80
