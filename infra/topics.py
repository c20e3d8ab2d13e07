"""eventfn's Kafka topics, named once, and creating them idempotently.

Usage: ``python -m infra.topics [--bootstrap-servers HOSTS] [--timeout S]`` (default:
``$KAFKA_BOOTSTRAP_SERVERS``), for a broker that run-all did not start, such as
docker-compose's.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any

from confluent_kafka import KafkaError, KafkaException
from confluent_kafka.admin import AdminClient
from confluent_kafka.cimpl import NewPartitions, NewTopic

from eventio.settings import KAFKA_BOOTSTRAP_SERVERS, TopicSettings
from infra.errors import InfraError, StartupError
from infra.settings import settings_for
from infra.waiting import wait_until

# The names every process defaults to (eventio.settings.TopicSettings).
_NAMES = TopicSettings()
EVENTS = _NAMES.events_topic
ALERTS = _NAMES.alerts_topic
EVENTS_DLQ = _NAMES.dead_letter_topic


@dataclass(frozen=True)
class TopicSpec:
    """A topic and its shape on the local single-node broker."""

    name: str
    partitions: int
    replication_factor: int = 1


TOPICS: tuple[TopicSpec, ...] = (
    TopicSpec(EVENTS, 6),
    TopicSpec(ALERTS, 3),
    TopicSpec(EVENTS_DLQ, 3),
)


def ensure_topics(
    bootstrap: str, topics: tuple[TopicSpec, ...] = TOPICS, timeout: float = 60.0
) -> None:
    """Create missing topics, grow ones with too few partitions, wait until all have leaders.

    Safe to call any number of times and from several processes at once.
    """
    admin = AdminClient({"bootstrap.servers": bootstrap})
    deadline = time.monotonic() + timeout
    metadata = wait_until(
        lambda: admin.list_topics(timeout=5), timeout=timeout, what=f"Kafka at {bootstrap}"
    )
    missing = [t for t in topics if t.name not in metadata.topics]
    if missing:
        futures = admin.create_topics(
            [NewTopic(t.name, t.partitions, t.replication_factor) for t in missing],
            operation_timeout=30,
            request_timeout=30,
        )
        for name, future in futures.items():
            _result_ignoring(future, KafkaError.TOPIC_ALREADY_EXISTS, f"creating topic {name}")
    short = [
        t
        for t in topics
        if t.name in metadata.topics and len(metadata.topics[t.name].partitions) < t.partitions
    ]
    if short:
        futures = admin.create_partitions(
            [NewPartitions(t.name, t.partitions) for t in short], request_timeout=30
        )
        for name, future in futures.items():
            _result_ignoring(future, KafkaError.INVALID_PARTITIONS, f"growing topic {name}")

    def all_led() -> bool:
        current = admin.list_topics(timeout=5)
        for spec in topics:
            topic = current.topics.get(spec.name)
            if topic is None or topic.error is not None:
                return False
            if len(topic.partitions) < spec.partitions:
                return False
            if any(p.leader < 0 for p in topic.partitions.values()):
                return False
        return True

    wait_until(
        all_led,
        timeout=max(1.0, deadline - time.monotonic()),
        what="every topic to have its partitions and leaders",
    )


def _result_ignoring(future: Future[Any], harmless: int, what: str) -> None:
    try:
        future.result()
    except KafkaException as exc:
        error = exc.args[0]
        if error.code() != harmless:
            raise StartupError(f"{what}: {error.str()}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.topics", description=__doc__)
    parser.add_argument("--bootstrap-servers")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    args.bootstrap_servers = args.bootstrap_servers or settings_for(parser).external_kafka
    if not args.bootstrap_servers:
        parser.error(f"set {KAFKA_BOOTSTRAP_SERVERS} or pass --bootstrap-servers")
    try:
        ensure_topics(args.bootstrap_servers, timeout=args.timeout)
    except InfraError as exc:
        print(f"topics: {exc}", file=sys.stderr)
        return 1
    shapes = ", ".join(f"{t.name} ({t.partitions} partitions)" for t in TOPICS)
    print(f"{args.bootstrap_servers} has {shapes}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
