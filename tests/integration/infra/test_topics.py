"""Topics on the real broker: created with their partition counts, idempotently, usable."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from confluent_kafka import Producer
from confluent_kafka.admin import AdminClient

from infra.topics import ALERTS, EVENTS, EVENTS_DLQ, TopicSpec, ensure_topics
from tests.support import python_env

pytestmark = pytest.mark.integration


def partition_counts(bootstrap: str, names: list[str]) -> dict[str, int]:
    metadata = AdminClient({"bootstrap.servers": bootstrap}).list_topics(timeout=10)
    return {
        name: len(metadata.topics[name].partitions) for name in names if name in metadata.topics
    }


def test_topics_exist_with_their_partition_counts(kafka_bootstrap: str):
    counts = partition_counts(kafka_bootstrap, [EVENTS, ALERTS, EVENTS_DLQ])
    assert counts == {EVENTS: 6, ALERTS: 3, EVENTS_DLQ: 3}


def test_ensuring_topics_again_changes_nothing(kafka_bootstrap: str):
    ensure_topics(kafka_bootstrap)
    ensure_topics(kafka_bootstrap)
    counts = partition_counts(kafka_bootstrap, [EVENTS, ALERTS, EVENTS_DLQ])
    assert counts == {EVENTS: 6, ALERTS: 3, EVENTS_DLQ: 3}


def test_a_topic_with_too_few_partitions_is_grown(kafka_bootstrap: str):
    name = f"infra-test-{secrets.token_hex(4)}"
    admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
    try:
        ensure_topics(kafka_bootstrap, (TopicSpec(name, 1),))
        assert partition_counts(kafka_bootstrap, [name]) == {name: 1}
        ensure_topics(kafka_bootstrap, (TopicSpec(name, 3),))
        assert partition_counts(kafka_bootstrap, [name]) == {name: 3}
    finally:
        for future in admin.delete_topics([name], operation_timeout=30).values():
            future.result()


def test_the_broker_acknowledges_an_idempotent_acks_all_produce(kafka_bootstrap: str):
    # a private topic shaped like events: the session's own topics belong to
    # the pipeline tests, which read every record on them
    name = f"infra-test-{secrets.token_hex(4)}"
    ensure_topics(kafka_bootstrap, (TopicSpec(name, 6),))
    producer = Producer(
        {"bootstrap.servers": kafka_bootstrap, "enable.idempotence": True, "acks": "all"}
    )
    reports: list[tuple[object, int | None, int | None]] = []
    try:
        producer.produce(
            name,
            value=b'{"type":"TEMP","value":"ALERT:90"}',
            key=b"infra-test",
            on_delivery=lambda err, msg: reports.append((err, msg.partition(), msg.offset())),
        )
        assert producer.flush(30) == 0
    finally:
        admin = AdminClient({"bootstrap.servers": kafka_bootstrap})
        for future in admin.delete_topics([name], operation_timeout=30).values():
            future.result()
    assert len(reports) == 1
    error, partition, offset = reports[0]
    assert error is None
    assert partition is not None
    assert 0 <= partition < 6
    assert offset == 0


def test_python_m_infra_topics_ensures_them_on_the_given_broker(kafka_bootstrap: str):
    # What docker-compose's one-shot topics service runs.
    env = python_env({"KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap})
    done = subprocess.run(
        [sys.executable, "-m", "infra.topics"], env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == (
        f"{kafka_bootstrap} has events (6 partitions), alerts (3 partitions), "
        "events.dlq (3 partitions)"
    )
    counts = partition_counts(kafka_bootstrap, [EVENTS, ALERTS, EVENTS_DLQ])
    assert counts == {EVENTS: 6, ALERTS: 3, EVENTS_DLQ: 3}


def test_python_m_infra_topics_without_a_broker_named_says_what_to_set():
    env = python_env({})
    env.pop("KAFKA_BOOTSTRAP_SERVERS", None)
    done = subprocess.run(
        [sys.executable, "-m", "infra.topics"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 2
    assert "set KAFKA_BOOTSTRAP_SERVERS or pass --bootstrap-servers" in done.stderr
