"""The bridge against a function that fails chosen events: retries, dead letters, commits."""

from __future__ import annotations

import contextlib
import json
import signal
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition

from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import to_record
from gateway.registry import function_id
from infra.ports import free_port
from infra.topics import TopicSpec, ensure_topics
from infra.waiting import wait_until
from tests.support import FIXTURE_APP, header, metric, read_topic, running, topic_size

pytestmark = pytest.mark.integration


@dataclass
class Bridged:
    """A gateway running the fixture app and a bridge feeding its flaky function."""

    url: str
    topic: str
    dlq: str
    group: str
    received: Path
    process: subprocess.Popen[bytes]

    def delivered(self) -> float:
        text = httpx.get(f"{self.url}/metrics").text
        return metric(text, "eventfn_bridge_records_total", function="flaky", outcome="delivered")

    def arrivals(self) -> list[dict]:
        if not self.received.exists():
            return []
        return [json.loads(line) for line in self.received.read_text().splitlines()]


@contextlib.contextmanager
def bridged(tmp_path: Path, bootstrap: str, name: str, **settings: str) -> Iterator[Bridged]:
    topic, dlq = f"bridge-test-{name}", f"bridge-test-{name}-dlq"
    ensure_topics(bootstrap, (TopicSpec(topic, 3), TopicSpec(dlq, 1)))
    port, bridge_port = free_port(), free_port()
    group_prefix = f"bridge-test-{port}-"
    received = tmp_path / "received.jsonl"
    env = {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(tmp_path),
        "PORT": str(port),
        "FLAKY_LOG": str(received),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "EVENTFN_EVENTS_TOPIC": topic,
        "EVENTFN_DLQ_TOPIC": dlq,
        "EVENTFN_BRIDGE_PORT": str(bridge_port),
        "EVENTFN_BRIDGE_GROUP_PREFIX": group_prefix,
        "EVENTFN_BRIDGE_TARGETS": f"flaky=http://127.0.0.1:{port}/invoke/"
        + function_id("fixtures", "flaky"),
        "EVENTFN_BRIDGE_BACKOFF_INITIAL_S": "0.05",
        "EVENTFN_BRIDGE_MAX_ATTEMPTS": "5",
        # the fixture reads its batches as any function could: structured JSON
        "EVENTFN_BRIDGE_BATCH_FORMAT": "cloudevents",
        **settings,
    }
    url = f"http://127.0.0.1:{bridge_port}"
    with (
        running("gateway", env, f"http://127.0.0.1:{port}/readyz", tmp_path / "gateway.log"),
        running("bridge", env, f"{url}/readyz", tmp_path / "bridge.log") as process,
    ):
        yield Bridged(url, topic, dlq, group_prefix + "flaky", received, process)


def produce(bootstrap: str, topic: str, events: list[dict]) -> None:
    producer = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True})
    for attributes in events:
        record = to_record(validate_event(attributes))
        producer.produce(topic, key=record.key, value=record.value, headers=record.headers)
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


def dead_letter_of(bootstrap: str, dlq: str, event_id: bytes) -> Any:
    (letter,) = [
        m
        for m in read_topic(
            bootstrap, dlq, lambda ms: any(header(m, "ce_id") == event_id for m in ms)
        )
        if header(m, "ce_id") == event_id
    ]
    return letter


def test_only_failed_events_are_retried_the_fatal_one_is_dead_lettered_and_offsets_committed(
    tmp_path: Path, kafka_bootstrap: str
):
    events = [event(n) for n in range(30)]
    events += [event(30, fail="retryable", times=2), event(31, fail="fatal")]
    with bridged(tmp_path, kafka_bootstrap, "partial") as bridge:
        produce(kafka_bootstrap, bridge.topic, events)
        wait_until(lambda: bridge.delivered() == 31, timeout=30, what="31 events delivered")
        letter = dead_letter_of(kafka_bootstrap, bridge.dlq, b"ev-31")
        ends = _ends(kafka_bootstrap, bridge.topic)
        wait_until(
            lambda: _committed(kafka_bootstrap, bridge.topic, bridge.group) == ends,
            timeout=10,
            what="offsets committed",
        )

    arrivals = bridge.arrivals()
    times: dict[str, int] = defaultdict(int)
    for arrival in arrivals:
        times[arrival["id"]] += 1
    assert {times[f"ev-{n}"] for n in range(30)} == {1}, "a good event was sent twice"
    assert times["ev-30"] == 3
    assert times["ev-31"] == 1
    assert header(letter, "eventfn.error.reason") == b"asked to fail for good"
    assert header(letter, "eventfn.error.function") == b"flaky"
    assert header(letter, "eventfn.error.topic") == bridge.topic.encode()
    first_seen: dict[int, list[int]] = defaultdict(list)
    for arrival in arrivals:
        if arrival["offset"] not in first_seen[arrival["partition"]]:
            first_seen[arrival["partition"]].append(arrival["offset"])
    assert all(offsets == sorted(offsets) for offsets in first_seen.values())
    assert sum(ends.values()) == 32


def test_a_poison_event_is_isolated_and_dead_lettered_while_the_others_flow(
    tmp_path: Path, kafka_bootstrap: str
):
    """An event that fails every batch it is in (as a whole) is found by
    bisecting, retried alone with backoff, and dead-lettered, while the events
    produced after it, of other keys, are delivered meanwhile; the next event
    of its own key waits for it."""
    poison = {**event(7, fail="crash"), "partitionkey": "poisoned"}
    same_key = {**event(8), "partitionkey": "poisoned"}
    first = [event(n) for n in range(7)] + [poison, same_key] + [event(n) for n in range(9, 40)]
    later = [event(n) for n in range(40, 80)]
    with bridged(
        tmp_path,
        kafka_bootstrap,
        "poison",
        EVENTFN_BRIDGE_BACKOFF_INITIAL_S="1",
        EVENTFN_BRIDGE_MAX_ATTEMPTS="3",
    ) as bridge:
        produce(kafka_bootstrap, bridge.topic, first)
        wait_until(lambda: bridge.delivered() == 38, timeout=30, what="the good events delivered")
        produce(kafka_bootstrap, bridge.topic, later)
        wait_until(lambda: bridge.delivered() == 78, timeout=30, what="the later events delivered")
        dead_yet = topic_size(kafka_bootstrap, bridge.dlq)
        letter = dead_letter_of(kafka_bootstrap, bridge.dlq, b"ev-7")
        wait_until(lambda: bridge.delivered() == 79, timeout=30, what="ev-8 after ev-7")

    assert dead_yet == 0, "the later events waited for the poison event"
    assert header(letter, "eventfn.error.status") == b"502"
    assert int(header(letter, "eventfn.error.attempts") or 0) >= 3
    arrived = [a["id"] for a in bridge.arrivals()]  # failed batches included
    last = {name: i for i, name in enumerate(arrived)}
    # ev-8 (same key) was delivered only after ev-7 was given up
    assert last["ev-8"] > last["ev-7"]


def test_a_failing_event_older_than_the_maximum_record_age_is_dead_lettered(
    tmp_path: Path, kafka_bootstrap: str
):
    with bridged(
        tmp_path,
        kafka_bootstrap,
        "age",
        EVENTFN_BRIDGE_MAX_RECORD_AGE_S="2",
        EVENTFN_BRIDGE_MAX_ATTEMPTS="1000",
    ) as bridge:
        produce(kafka_bootstrap, bridge.topic, [event(1, fail="retryable", times=10_000)])
        letter = dead_letter_of(kafka_bootstrap, bridge.dlq, b"ev-1")
    reason = header(letter, "eventfn.error.reason") or b""
    assert reason.startswith(b"older than the maximum record age (2s)")


def test_on_sigterm_the_bridge_commits_what_is_done_hands_back_the_rest_and_exits(
    tmp_path: Path, kafka_bootstrap: str
):
    stuck = {**event(5, fail="retryable", times=10_000), "partitionkey": "stuck"}
    with bridged(
        tmp_path,
        kafka_bootstrap,
        "sigterm",
        EVENTFN_BRIDGE_BACKOFF_INITIAL_S="1",
        EVENTFN_BRIDGE_MAX_ATTEMPTS="10000",
        EVENTFN_SHUTDOWN_GRACE_S="5",
    ) as bridge:
        produce(kafka_bootstrap, bridge.topic, [event(n) for n in range(5)] + [stuck])
        wait_until(lambda: bridge.delivered() == 5, timeout=30, what="the other events delivered")
        began = time.monotonic()
        bridge.process.send_signal(signal.SIGTERM)
        assert bridge.process.wait(10) == 0
        took = time.monotonic() - began
    assert took < 5
    ends = _ends(kafka_bootstrap, bridge.topic)
    committed = _committed(kafka_bootstrap, bridge.topic, bridge.group)
    held = next(a for a in bridge.arrivals() if a["id"] == "ev-5")
    # everything done is committed; the held event's partition stops at it
    assert committed[held["partition"]] == held["offset"]
    assert all(committed[p] == ends[p] for p in ends if p != held["partition"])


def _ends(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bridge-test-ends"})
    try:
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in range(3)
        }
    finally:
        consumer.close()


def _committed(bootstrap: str, topic: str, group: str) -> dict[int, int]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        partitions = consumer.committed([TopicPartition(topic, p) for p in range(3)], timeout=10)
        return {tp.partition: tp.offset for tp in partitions}
    finally:
        consumer.close()
