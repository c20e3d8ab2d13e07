"""Where a fresh consumer group starts on the events topic: at its end now,
so that a bridge measured in it reads only the events produced for the row;
and how far behind a group is (its lag)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

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


def lag(ends: Mapping[int, int], committed: Mapping[int, int]) -> int:
    """Records on the topic a group has not committed yet: per partition the
    end offset minus the committed one (a partition never committed counts
    from its start, offset 0). Pure."""
    return sum(max(0, end - max(0, committed.get(p, 0))) for p, end in ends.items())


@contextlib.contextmanager
def lag_reader(
    bootstrap: str, groups: Sequence[str], topic: str = EVENTS
) -> Iterator[Callable[[], dict[str, int]]]:
    """A function that reads each group's lag on ``topic`` now, in records;
    its consumers (one a group: ``committed()`` asks for the consumer's own
    group, which it never joins) live until the block ends."""
    consumers = {
        group: Consumer({"bootstrap.servers": bootstrap, "group.id": group}) for group in groups
    }
    try:
        any_one = next(iter(consumers.values()))
        count = len(any_one.list_topics(topic, timeout=10).topics[topic].partitions)
        partitions = [TopicPartition(topic, p) for p in range(count)]

        def read() -> dict[str, int]:
            ends = {
                tp.partition: any_one.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions
            }
            return {
                group: lag(
                    ends,
                    {tp.partition: tp.offset for tp in consumer.committed(partitions, timeout=10)},
                )
                for group, consumer in consumers.items()
            }

        yield read
    finally:
        for consumer in consumers.values():
            consumer.close()
