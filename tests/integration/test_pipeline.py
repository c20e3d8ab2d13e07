"""Gateway, functions and bridge together, on real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import orjson
import pytest
from confluent_kafka import Producer

from infra.ports import free_port
from infra.waiting import wait_until
from tests.support import header, metric, pipeline_env, read_topic, running

pytestmark = pytest.mark.integration


@dataclass
class Pipeline:
    gateway: httpx.Client
    bridge_url: str
    run_dir: Path

    def delivered(self, function: str) -> float:
        text = httpx.get(f"{self.bridge_url}/metrics").text
        return metric(text, "eventfn_bridge_records_total", function=function, outcome="delivered")


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[Pipeline]:
    run_dir = tmp_path_factory.mktemp("pipeline")
    port, bridge_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = {
        **pipeline_env(run_dir, kafka_bootstrap, database_url, port, bridge_port),
        # groups of their own: other modules' events on the topic are theirs
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"pipeline-{port}-",
        "EVENTFN_BRIDGE_BACKOFF_INITIAL_S": "0.1",
        "EVENTFN_BRIDGE_MAX_ATTEMPTS": "2",
    }
    bridge_url = f"http://127.0.0.1:{bridge_port}"
    with (
        running("gateway", env, f"{gateway_url}/readyz", run_dir / "gateway.log"),
        running("bridge", env, f"{bridge_url}/readyz", run_dir / "bridge.log"),
        httpx.Client(base_url=gateway_url, timeout=60) as client,
    ):
        yield Pipeline(client, bridge_url, run_dir)


def count(db, sql: str, *args) -> int:
    return db.execute(sql, args).fetchone()[0]


def test_the_original_event_becomes_a_row_and_an_alert(pipeline, db):
    response = pipeline.gateway.post(
        "/publish",
        content=b'{"type":"TEMP","value":"ALERT:90"}',
        headers={"Content-Type": "application/json"},
    )
    assert response.status_code == 202
    event_id = response.json()["id"]
    wait_until(
        lambda: count(db, "select count(*) from events where id = %s", event_id),
        timeout=10,
        what="row",
    )
    wait_until(
        lambda: count(db, "select count(*) from alerts where event_id = %s", event_id),
        timeout=10,
        what="alert",
    )
    row = db.execute(
        "select type, data, kafka_topic from events where id = %s", (event_id,)
    ).fetchone()
    assert row == ("TEMP", {"type": "TEMP", "value": "ALERT:90"}, "events")


def test_a_batch_of_1000_is_persisted_exactly_once_even_when_posted_twice(pipeline, db):
    batch = [{"type": "TEMP", "value": n % 100, "id": f"batch-{n}"} for n in range(1000)]
    for attempt in (1, 2):
        target = pipeline.delivered("persist") + 1000
        response = pipeline.gateway.post("/publish", json=batch)
        assert response.status_code == 202
        assert len(response.json()["ids"]) == 1000
        wait_until(
            lambda t=target: pipeline.delivered("persist") >= t, timeout=60, what=f"post {attempt}"
        )
        assert count(db, "select count(*) from events where id like 'batch-%%'") == 1000
    # the alert stage applies each of the 1000 events once, for each TEMP rule
    wait_until(
        lambda: (
            count(
                db,
                "select count(distinct event_id) from alert_applied_events"
                " where rule = 'temperature-high' and event_id like 'batch-%%'",
            )
            == 1000
        ),
        timeout=30,
        what="the alert stage",
    )


def test_order_within_a_partition_is_kept(pipeline, db):
    ordered = [{"type": "SEQ", "value": n, "subject": "one-key"} for n in range(200)]
    for chunk in (ordered[:100], ordered[100:]):
        assert pipeline.gateway.post("/publish", json=chunk).status_code == 202
    wait_until(
        lambda: count(db, "select count(*) from events where subject = 'one-key'") == 200,
        timeout=30,
        what="the ordered events",
    )
    values = [
        r[0]
        for r in db.execute(
            "select (data->>'value')::int from events where subject = 'one-key' order by seq"
        )
    ]
    assert values == list(range(200))


def test_a_poison_record_is_dead_lettered_and_the_rest_flows(pipeline, db, kafka_bootstrap):
    producer = Producer({"bootstrap.servers": kafka_bootstrap})
    ce = [
        ("ce_specversion", b"1.0"),
        ("ce_source", b"/poison"),
        ("ce_type", b"TEMP"),
        ("content-type", b"application/json"),
    ]
    producer.produce(
        "events", key=b"p", value=b'{"type": "TEMP", "val', headers=[*ce, ("ce_id", b"bad-1")]
    )
    # written by some other producer, and nested past what any encoder takes
    too_deep = b"[" * 300 + b"]" * 300
    producer.produce("events", key=b"deep", value=too_deep)
    producer.produce("events", key=b"p", value=b'{"value": 1}', headers=[*ce, ("ce_id", b"good-1")])
    producer.flush(10)

    wait_until(
        lambda: count(db, "select count(*) from events where source = '/poison'"),
        timeout=30,
        what="good event",
    )
    assert count(db, "select count(*) from events where id = 'bad-1'") == 0

    def dead(messages):
        return [m for m in messages if header(m, "ce_id") == b"bad-1"]

    letters = dead(read_topic(kafka_bootstrap, "events.dlq", dead))
    assert {header(m, "eventfn.error.function") for m in letters} <= {b"persist", b"alert"}
    headers = dict(letters[0].headers())
    assert headers["eventfn.error.topic"] == b"events"
    assert (
        headers["eventfn.error.reason"] == b"data is not valid JSON but its content type says JSON"
    )
    assert letters[0].value() == b'{"type": "TEMP", "val'

    def deep(messages):
        return [m for m in messages if m.key() == b"deep"]

    (letter, *_) = deep(read_topic(kafka_bootstrap, "events.dlq", deep))
    # forwarded as it is, it is the function that cannot store it
    assert header(letter, "eventfn.error.reason").startswith(
        b"cannot be stored: its data nests too deep to encode as JSON"
    )
    assert letter.value() == too_deep
    assert orjson.loads(httpx.get(f"{pipeline.bridge_url}/readyz").content) == {"status": "ready"}
