"""Where a fresh consumer group starts on the events topic: at its end now,
so that a bridge measured in it reads only the events produced for the row."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from confluent_kafka import Consumer, TopicPartition

from infra.topics import EVENTS


def end_offsets(bootstrap: str, topic: str = EVENTS) -> dict[int, int]:
    """Each partition's high watermark: where the next record will land."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-offsets"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        }
    finally:
        consumer.close()


def start_groups_at(bootstrap: str, groups: Iterable[str], offsets: Mapping[int, int]) -> None:
    """Commit ``offsets`` of the events topic for each new group, so a bridge
    started in it reads from there, not the whole topic's history."""
    for group in groups:
        consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
        try:
            positions = [TopicPartition(EVENTS, p, o) for p, o in offsets.items()]
            consumer.commit(offsets=positions, asynchronous=False)
        finally:
            consumer.close()
