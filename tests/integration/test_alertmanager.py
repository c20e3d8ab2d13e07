"""Alerts end to end: /publish, Kafka, the bridge, the alert function with its state in
PostgreSQL, and a real Prometheus Alertmanager notifying a webhook the test runs."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import make_conninfo

from bench.offsets import end_offsets, start_groups_at
from eventcore.cloudevent import validate_event
from eventcore.schedule import ping
from eventio.alertmanager import Alertmanager
from infra import alertmanager
from infra.migrate import apply_migrations
from infra.ports import free_port
from infra.settings import Settings
from infra.supervisor import Supervisor
from infra.waiting import wait_until
from tests.support import alert_stage, header, pipeline_env, read_topic, running

pytestmark = pytest.mark.integration

RULES = """
rules:
  - {name: hot, type: TEMP, op: ">=", threshold: 80, severity: critical, labels: {team: tests}}
  - {name: hot-for, type: HEAT, threshold: 80, for: 10s}
  - name: busy
    type: TRANSACTION
    window: {size: 10s}
    aggregate: count
    op: ">"
    threshold: 5
    group_by: [data.account]
  - {name: silent, type: BEAT, absent_for: 5s}
  - {name: muted, type: NOISE, threshold: 1}
"""
ALERTMANAGER_CONFIG = """
route:
  receiver: hook
  group_by: [alertname, source, subject, account]
  group_wait: 1s
  group_interval: 1s
  repeat_interval: 1h
receivers:
  - name: hook
    webhook_configs:
      - url: http://127.0.0.1:{port}/hook
        send_resolved: true
"""


@dataclass
class Webhook:
    """A receiver of Alertmanager's webhook notifications."""

    received: list[dict[str, Any]] = field(default_factory=list)

    def alerts(self, name: str) -> list[dict[str, Any]]:
        return [
            alert
            for body in list(self.received)
            for alert in body["alerts"]
            if alert["labels"].get("alertname") == name
        ]


def serve_webhook(hook: Webhook) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", "0"))
            hook.received.append(json.loads(self.rfile.read(length)))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@dataclass
class Stack:
    gateway: httpx.Client
    alertmanager: httpx.Client
    hook: Webhook
    run_dir: Path
    kafka: str
    database_url: str

    def publish(self, *events: dict[str, Any]) -> None:
        answer = self.gateway.post("/publish", json=list(events))
        assert answer.status_code == 202, answer.text

    def instance(self, rule: str, **labels: str) -> tuple[Any, ...] | None:
        with psycopg.connect(self.database_url) as conn:
            return conn.execute(
                "SELECT state, event_count, event_id, id FROM alerts"
                " WHERE rule = %s AND labels @> %s::jsonb",
                (rule, json.dumps(labels)),
            ).fetchone()

    def state(self, rule: str, **labels: str) -> str | None:
        found = self.instance(rule, **labels)
        return None if found is None else found[0]

    def active(self, name: str, **labels: str) -> list[dict[str, Any]]:
        """Alertmanager's active alerts of a rule and group (silenced ones included)."""
        alerts = self.alertmanager.get("/api/v2/alerts", params={"active": "true"}).json()
        return [
            a
            for a in alerts
            if a["labels"]["alertname"] == name
            and all(a["labels"].get(k) == v for k, v in labels.items())
        ]

    def lines(self, prefix: str, needle: str) -> list[str]:
        log = self.run_dir / "logs" / "fn-alert.log"
        text = log.read_text() if log.exists() else ""
        return [line for line in text.splitlines() if line.startswith(prefix) and needle in line]


@pytest.fixture(scope="module")
def stack(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[Stack]:
    run_dir = tmp_path_factory.mktemp("alerting")
    hook = Webhook()
    server = serve_webhook(hook)
    config = run_dir / "alertmanager.yml"
    config.write_text(ALERTMANAGER_CONFIG.replace("{port}", str(server.server_address[1])))
    rules = run_dir / "rules.yaml"
    rules.write_text(RULES)
    am_port, port, bridge_port = free_port(), free_port(), free_port()
    settings = Settings.from_env(
        {}, run_dir=run_dir / "am", alertmanager_port=am_port, alertmanager_config=config
    )
    supervisor = Supervisor([alertmanager.component(settings)], settings.run, write_status=False)
    supervisor.start_in_background(60)
    env = {
        **pipeline_env(run_dir, kafka_bootstrap, database_url, port, bridge_port),
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"alerting-{port}-",
        "ALERTMANAGER_URL": settings.alertmanager_url,
        "EVENTFN_ALERT_RULES": str(rules),
    }
    gateway_url = f"http://127.0.0.1:{port}"
    prefix = env["EVENTFN_BRIDGE_GROUP_PREFIX"]
    start_groups_at(
        kafka_bootstrap, [prefix + "persist", prefix + "alert"], end_offsets(kafka_bootstrap)
    )
    try:
        with (
            running("gateway", env, f"{gateway_url}/readyz", run_dir / "gateway.log"),
            running("bridge", env, f"http://127.0.0.1:{bridge_port}/readyz", run_dir / "b.log"),
            httpx.Client(base_url=gateway_url, timeout=30) as gateway,
            httpx.Client(base_url=settings.alertmanager_url, timeout=10) as am,
        ):
            yield Stack(gateway, am, hook, run_dir, kafka_bootstrap, database_url)
    finally:
        supervisor.stop()
        server.shutdown()


def reading(type_: str, value: object, source: str, n: int, **extra: object) -> dict[str, Any]:
    return {
        "type": type_,
        "value": value,
        "source": source,
        "subject": "room-1",
        "id": f"{source}-{type_}-{n}",
        **extra,
    }


def test_fifty_readings_fire_once_everywhere_and_one_normal_reading_resolves(stack):
    sensor = "/sensor/fifty"
    stack.publish(*[reading("TEMP", f"ALERT:{90 + n % 5}", sensor, n) for n in range(50)])
    wait_until(
        lambda: (found := stack.instance("hot", source=sensor)) and found[1] == 50,
        timeout=15,
        what="50 readings in one instance",
    )
    state, count, last_event, instance_id = stack.instance("hot", source=sensor)
    assert (state, count, last_event) == ("firing", 50, f"{sensor}-TEMP-49")
    (alert,) = wait_until(
        lambda: stack.active("hot", source=sensor) or None, timeout=10, what="Alertmanager"
    )
    assert alert["labels"] == {
        "alertname": "hot",
        "severity": "critical",
        "source": sensor,
        "subject": "room-1",
        "team": "tests",
    }
    assert alert["generatorURL"].endswith(f"/alerts/{instance_id}")
    assert len(stack.lines("FIRING", sensor)) == 1
    told = read_topic(
        stack.kafka, "alerts", lambda ms: any(m.key() == instance_id.encode() for m in ms)
    )
    firing = [m for m in told if m.key() == instance_id.encode()]
    assert [header(m, "ce_type") for m in firing] == [b"eventfn.alert.firing"]

    # told to the receiver (Alertmanager sends a resolving only after a firing)
    wait_until(
        lambda: any(a["labels"]["source"] == sensor for a in stack.hook.alerts("hot")),
        timeout=10,
        what="the firing notification",
    )
    stack.publish(reading("TEMP", 20, sensor, 50))
    wait_until(lambda: stack.state("hot", source=sensor) == "resolved", timeout=10, what="resolved")
    wait_until(
        lambda: not stack.active("hot", source=sensor), timeout=10, what="resolved in Alertmanager"
    )
    assert len(stack.lines("RESOLVED", sensor)) == 1
    wait_until(
        lambda: (
            [
                a
                for a in stack.hook.alerts("hot")
                if a["status"] == "resolved" and a["labels"]["source"] == sensor
            ]
            or None
        ),
        timeout=10,
        what="the resolved notification",
    )


def test_for_keeps_a_burst_pending_and_fires_readings_that_hold_long_enough(stack):
    start = datetime.now(UTC)
    at = lambda s: (start + timedelta(seconds=s)).isoformat()  # noqa: E731
    burst = [reading("HEAT", 95, "/sensor/burst", n, time=at(n)) for n in range(4)]
    held = [reading("HEAT", 95, "/sensor/held", n, time=at(n)) for n in range(13)]
    stack.publish(*burst)
    for event in held:
        stack.publish(event)
    wait_until(
        lambda: stack.state("hot-for", source="/sensor/held") == "firing", timeout=15, what="fire"
    )
    assert stack.state("hot-for", source="/sensor/burst") == "pending"
    assert len(stack.lines("FIRING", "/sensor/held")) == 1
    assert stack.lines("FIRING", "/sensor/burst") == []


def test_a_window_fires_once_per_account_and_a_republished_batch_counts_nothing(stack):
    # one moment, so one window whatever the clock says
    now = datetime.now(UTC).isoformat()
    busy = [reading("TRANSACTION", 10, "/bank", n, account="acc-busy", time=now) for n in range(7)]
    calm = [
        reading("TRANSACTION", 10, "/bank", 100 + n, account="acc-calm", time=now) for n in range(3)
    ]
    stack.publish(*busy, *calm)
    stack.publish(*busy)  # again, the same ids
    found = wait_until(
        lambda: (row := stack.instance("busy", account="acc-busy")) and row[0] == "firing" and row,
        timeout=30,
        what="the window to close and fire",
    )
    assert found[1] == 7, "each event counted once"
    assert stack.state("busy", account="acc-calm") in (None, "inactive")
    (alert,) = wait_until(
        lambda: stack.active("busy", account="acc-busy") or None, timeout=10, what="Alertmanager"
    )
    assert alert["labels"]["alertname"] == "busy"


def test_a_silent_sensor_fires_and_its_next_reading_resolves_it(stack):
    stack.publish(reading("BEAT", 1, "/sensor/quiet", 1))
    began = wait_until(
        lambda: stack.instance("silent", source="/sensor/quiet"), timeout=10, what="seen"
    )
    assert began[0] == "inactive"
    # absent_for 5s, plus one ping (2s), plus the time to get here
    wait_until(
        lambda: stack.state("silent", source="/sensor/quiet") == "firing",
        timeout=12,
        what="the silence to be noticed",
    )
    with psycopg.connect(stack.database_url) as conn:
        (noticed,) = conn.execute(
            "SELECT fired_at - last_seen_at FROM alerts WHERE rule = 'silent'"
        ).fetchone()
    # absent_for, then at most one ping (2 s), and the time a ping may wait for
    # the alert function while it works on a batch
    assert timedelta(seconds=5) <= noticed <= timedelta(seconds=5 + 2 + 3)
    stack.publish(reading("BEAT", 1, "/sensor/quiet", 2))
    wait_until(
        lambda: stack.state("silent", source="/sensor/quiet") == "resolved",
        timeout=10,
        what="its next reading to resolve it",
    )


def test_a_silence_keeps_the_notification_from_the_receiver_while_the_instance_fires(stack):
    now = datetime.now(UTC)
    silence = stack.alertmanager.post(
        "/api/v2/silences",
        json={
            "matchers": [{"name": "alertname", "value": "muted", "isRegex": False}],
            "startsAt": now.isoformat(),
            "endsAt": (now + timedelta(hours=1)).isoformat(),
            "createdBy": "tests",
            "comment": "maintenance",
        },
    )
    assert silence.status_code == 200, silence.text
    stack.publish(reading("NOISE", 5, "/sensor/noisy", 1))
    wait_until(
        lambda: stack.state("muted", source="/sensor/noisy") == "firing",
        timeout=10,
        what="the instance to fire",
    )
    (alert,) = wait_until(
        lambda: stack.active("muted", source="/sensor/noisy") or None,
        timeout=10,
        what="Alertmanager",
    )
    assert alert["status"]["state"] == "suppressed"
    # a control alert after it reaches the receiver: the muted one would have by then
    stack.publish(reading("TEMP", 99, "/sensor/control", 1))
    wait_until(
        lambda: any(a["labels"]["source"] == "/sensor/control" for a in stack.hook.alerts("hot")),
        timeout=15,
        what="the control alert at the receiver",
    )
    assert stack.hook.alerts("muted") == []


@pytest.fixture
def own_schema(database_url: str) -> Iterator[str]:
    """A conninfo whose tables are a migrated schema of their own: the module's
    gateway, which tells Alertmanager of every instance it finds waiting in the
    shared tables, never sees these."""
    schema = f"outage_{free_port()}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(sql.SQL("CREATE SCHEMA {}").format(sql.Identifier(schema)))
    conninfo = make_conninfo(database_url, options=f"-c search_path={schema}")
    try:
        apply_migrations(conninfo)
        yield conninfo
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(sql.SQL("DROP SCHEMA {} CASCADE").format(sql.Identifier(schema)))


def test_alertmanager_down_holds_up_no_event_and_loses_no_alert(
    stack, tmp_path, kafka_bootstrap, own_schema
):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: outage, type: OUT, threshold: 1}\n")
    down = Alertmanager(f"http://127.0.0.1:{free_port()}")  # nothing listens there
    reading = validate_event(
        {
            "specversion": "1.0",
            "id": "out-1",
            "source": "/sensor/out",
            "type": "OUT",
            "data": {"value": 5},
        }
    )

    def waiting() -> bool:
        with psycopg.connect(own_schema) as conn:
            row = conn.execute("SELECT notify FROM alerts WHERE rule = 'outage'").fetchone()
        assert row is not None
        return bool(row[0])

    with alert_stage(rules, own_schema, kafka_bootstrap, alertmanager=down) as stage:
        assert stage.handle([reading]).counts["firing"] == 1
        assert waiting(), "kept for Alertmanager"
        assert stack.active("outage", source="/sensor/out") == []
        stage.alertmanager = Alertmanager(str(stack.alertmanager.base_url))
        stage.handle([ping("/tests", "ping-outage", datetime.now(UTC))])
        wait_until(
            lambda: stack.active("outage", source="/sensor/out") or None, timeout=10, what="told"
        )
        assert not waiting()
