"""The bridge's consumer groups as the broker sees them: members, committed offsets, lag."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from confluent_kafka import Consumer, ConsumerGroupTopicPartitions, TopicPartition
from confluent_kafka.admin import AdminClient

_TIMEOUT_S = 5.0


def bridge_groups(env: Mapping[str, str]) -> list[str]:
    """``<prefix><function>`` for each function the bridge feeds, as the bridge names them."""
    prefix = env.get("EVENTFN_BRIDGE_GROUP_PREFIX", "eventfn-")
    functions = env.get("EVENTFN_BRIDGE_FUNCTIONS", "persist,alert")
    return [prefix + name.strip() for name in functions.split(",") if name.strip()]


def admin(bootstrap: str) -> AdminClient:
    # log_level 0: while the broker is down the client would log every retry
    return AdminClient({"bootstrap.servers": bootstrap, "log_level": 0})


def members(client: AdminClient, group: str) -> set[str]:
    """The member ids the group's coordinator currently holds."""
    description = client.describe_consumer_groups([group], request_timeout=_TIMEOUT_S)[
        group
    ].result(_TIMEOUT_S)
    return {member.member_id for member in description.members}


def committed(client: AdminClient, group: str) -> dict[tuple[str, int], int]:
    """The group's committed offset per (topic, partition); negative means none."""
    request = [ConsumerGroupTopicPartitions(group)]
    answer = client.list_consumer_group_offsets(request, request_timeout=_TIMEOUT_S)[group].result(
        _TIMEOUT_S
    )
    return {(tp.topic, tp.partition): tp.offset for tp in answer.topic_partitions or ()}


def end_offsets(bootstrap: str, topic: str) -> dict[int, tuple[int, int]]:
    """(low, high) watermark of each partition of ``topic``."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": "eventfn-faults-watermarks", "log_level": 0}
    )
    try:
        partitions = consumer.list_topics(topic, timeout=_TIMEOUT_S).topics[topic].partitions
        return {
            p: consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=_TIMEOUT_S)
            for p in sorted(partitions)
        }
    finally:
        consumer.close()


def lag(bootstrap: str, topic: str, groups: Sequence[str]) -> dict[str, int]:
    """Records of ``topic`` each group has not committed past yet."""
    marks = end_offsets(bootstrap, topic)
    client = admin(bootstrap)
    behind = {}
    for group in groups:
        offsets = committed(client, group)
        behind[group] = sum(
            high - max(offsets.get((topic, p), -1), low) for p, (low, high) in marks.items()
        )
    return behind
