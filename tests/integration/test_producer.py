"""The producer answers only for what Kafka acknowledged, record by record."""

from __future__ import annotations

import pytest

from eventcore.kafka_binding import KafkaRecord
from eventio.errors import DeliveryError
from eventio.producer import EventProducer
from infra.ports import free_port
from infra.topics import TopicSpec, ensure_topics
from tests.support import read_topic

pytestmark = pytest.mark.integration


def records(count: int, run: str) -> list[KafkaRecord]:
    return [
        KafkaRecord(f"k{n % 7}".encode(), b'{"n": %d}' % n, [("ce_id", f"{run}-{n}".encode())])
        for n in range(count)
    ]


def test_a_send_returns_once_every_record_is_on_kafka_in_order(kafka_bootstrap):
    topic = "tests-producer"
    ensure_topics(kafka_bootstrap, (TopicSpec(topic, 3),))
    producer = EventProducer(kafka_bootstrap, "tests-producer", timeout_s=10)
    try:
        producer.send(topic, records(500, "a"))
    finally:
        producer.close()
    seen = read_topic(kafka_bootstrap, topic, lambda messages: len(messages) >= 500)
    ids = [dict(m.headers())["ce_id"].decode() for m in seen]
    assert sorted(ids) == sorted(f"a-{n}" for n in range(500))
    for key in {m.key() for m in seen}:
        numbers = [int(i.split("-")[1]) for m, i in zip(seen, ids, strict=True) if m.key() == key]
        assert numbers == sorted(numbers)  # one key, one partition: in the order sent


def test_a_send_larger_than_the_local_queue_waits_for_room(kafka_bootstrap):
    producer = EventProducer(
        kafka_bootstrap, "tests-producer", timeout_s=10, **{"queue.buffering.max.messages": 50}
    )
    try:
        producer.send("events", records(500, "c"))  # no DeliveryError: all acknowledged
    finally:
        producer.close()


def test_without_a_broker_every_record_is_reported_not_acknowledged():
    producer = EventProducer(f"127.0.0.1:{free_port()}", "tests-producer", timeout_s=1)
    with pytest.raises(DeliveryError) as caught:
        producer.send("events", records(5, "b"))
    assert caught.value.split([f"b-{n}" for n in range(5)]) == ([], [f"b-{n}" for n in range(5)])
    assert all(outcome and "timed out" in outcome.lower() for outcome in caught.value.outcomes)
