"""The bridge against a function that fails chosen events: retries, dead letters, commits."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import to_record
from gateway.registry import function_id
from infra.ports import free_port
from infra.topics import TopicSpec, ensure_topics
from infra.waiting import wait_until
from tests.support import FIXTURE_APP, header, metric, read_topic, running

pytestmark = pytest.mark.integration

TOPIC, DLQ = "bridge-test-events", "bridge-test-dlq"


def produce(bootstrap: str, events: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for attributes in events:
        record = to_record(validate_event(attributes))
        producer.produce(TOPIC, key=record.key, value=record.value, headers=record.headers)
    assert producer.flush(10) == 0


def event(n: int, **data: object) -> dict:
    return {
        "specversion": "1.0",
        "id": f"ev-{n}",
        "source": "/bridge-test",
        "type": "T",
        "datacontenttype": "application/json",
        "data": {"n": n, **data},
        "partitionkey": f"key-{n % 5}",
    }


def test_only_failed_events_are_retried_the_fatal_one_is_dead_lettered_and_offsets_committed(
    tmp_path: Path, kafka_bootstrap: str
):
    ensure_topics(kafka_bootstrap, (TopicSpec(TOPIC, 3), TopicSpec(DLQ, 1)))
    received = tmp_path / "received.jsonl"
    port, bridge_port = free_port(), free_port()
    group_prefix = f"bridge-test-{port}-"
    env = {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(tmp_path),
        "PORT": str(port),
        "FLAKY_LOG": str(received),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EVENTFN_EVENTS_TOPIC": TOPIC,
        "EVENTFN_DLQ_TOPIC": DLQ,
        "EVENTFN_BRIDGE_PORT": str(bridge_port),
        "EVENTFN_BRIDGE_GROUP_PREFIX": group_prefix,
        "EVENTFN_BRIDGE_TARGETS": f"flaky=http://127.0.0.1:{port}/invoke/"
        + function_id("fixtures", "flaky"),
        "EVENTFN_BRIDGE_BACKOFF_INITIAL_S": "0.05",
        "EVENTFN_BRIDGE_MAX_ATTEMPTS": "5",
    }
    events = [event(n) for n in range(30)]
    events += [event(30, fail="retryable", times=2), event(31, fail="fatal")]
    bridge = f"http://127.0.0.1:{bridge_port}"
    with (
        running("gateway", env, f"http://127.0.0.1:{port}/readyz", tmp_path / "gateway.log"),
        running("gateway.bridge", env, f"{bridge}/readyz", tmp_path / "bridge.log"),
    ):
        produce(kafka_bootstrap, events)

        def delivered() -> float:
            text = httpx.get(f"{bridge}/metrics").text
            return metric(
                text, "eventfn_bridge_records_total", function="flaky", outcome="delivered"
            )

        wait_until(lambda: delivered() == 31, timeout=30, what="31 events delivered")
        dead = read_topic(
            kafka_bootstrap, DLQ, lambda ms: any(header(m, "ce_id") == b"ev-31" for m in ms)
        )
        ends = _ends(kafka_bootstrap)
        group = group_prefix + "flaky"
        wait_until(
            lambda: _committed(kafka_bootstrap, group) == ends, timeout=10, what="offsets committed"
        )

    arrivals = [json.loads(line) for line in received.read_text().splitlines()]
    times = defaultdict(int)
    for arrival in arrivals:
        times[arrival["id"]] += 1
    assert {times[f"ev-{n}"] for n in range(30)} == {1}, "a good event was sent twice"
    assert times["ev-30"] == 3
    assert times["ev-31"] == 1
    (letter,) = [m for m in dead if header(m, "ce_id") == b"ev-31"]
    assert header(letter, "eventfn.error.reason") == b"asked to fail for good"
    assert header(letter, "eventfn.error.function") == b"flaky"
    assert header(letter, "eventfn.error.topic") == TOPIC.encode()
    first_seen: dict[int, list[int]] = defaultdict(list)
    for arrival in arrivals:
        if arrival["offset"] not in first_seen[arrival["partition"]]:
            first_seen[arrival["partition"]].append(arrival["offset"])
    assert all(offsets == sorted(offsets) for offsets in first_seen.values())
    assert sum(ends.values()) == 32


def _ends(bootstrap: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bridge-test-ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(TOPIC, p), timeout=10)[1]
            for p in range(3)
        }
    finally:
        consumer.close()


def _committed(bootstrap: str, group: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.committed([TopicPartition(TOPIC, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in partitions}
    finally:
        consumer.close()
