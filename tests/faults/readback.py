"""The final reads, once the system is quiet: the ``events`` table and whole topics."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator, Sequence
from datetime import datetime

import psycopg
from confluent_kafka import OFFSET_BEGINNING, Consumer, Message, TopicPartition

from infra.waiting import wait_until
from tests.faults import groups
from tests.faults.checker import DeadLetter, Row
from tests.faults.events import Key
from tests.faults.poison import ID_HEADER, SOURCE_HEADER

ERROR = "eventfn.error."


def rows(database_url: str) -> list[Row]:
    """Every row of ``events``: identity, data, and when it was written."""
    with psycopg.connect(database_url, connect_timeout=10) as db:
        found = db.execute(
            "SELECT source, id, data, extract(epoch FROM received_at)::float8 FROM events"
        ).fetchall()
    return [Row((source, id_), data, received) for source, id_, data, received in found]


def row_count(database_url: str) -> int:
    with psycopg.connect(database_url, connect_timeout=5) as db:
        (count,) = db.execute("SELECT count(*) FROM events").fetchone() or (0,)
    return int(count)


def dead_letters(bootstrap: str, topic: str) -> list[DeadLetter]:
    """Every record of the dead-letter topic, with the identity and context it carries."""
    return [_dead_letter(message) for message in read_all(bootstrap, topic)]


def kafka_copies(bootstrap: str, topic: str) -> Counter[Key]:
    """How many records of ``topic`` carry each (ce_source, ce_id)."""
    copies: Counter[Key] = Counter()
    for message in read_all(bootstrap, topic):
        key = identity(_headers(message))
        if key is not None:
            copies[key] += 1
    return copies


def identity(headers: dict[str, str]) -> Key | None:
    """(source, id) from the CloudEvent headers, else from the fault test's own."""
    if headers.get("ce_source") and headers.get("ce_id"):
        return headers["ce_source"], headers["ce_id"]
    if headers.get(SOURCE_HEADER) and headers.get(ID_HEADER):
        return headers[SOURCE_HEADER], headers[ID_HEADER]
    return None


def read_all(bootstrap: str, topic: str, timeout_s: float = 120.0) -> Iterator[Message]:
    """Each record of ``topic`` from the beginning up to the end it had when called."""
    marks = groups.end_offsets(bootstrap, topic)
    wanted = {p: high for p, (low, high) in marks.items() if high > low}
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "eventfn-faults-readback",
            "enable.auto.commit": False,
            "log_level": 0,
        }
    )
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in wanted])
    deadline = time.monotonic() + timeout_s
    try:
        while wanted:
            if time.monotonic() > deadline:
                raise TimeoutError(f"reading {topic}: partitions {sorted(wanted)} not read to end")
            for message in consumer.consume(1000, 0.5):
                if message.error() is not None:
                    continue
                partition, offset = message.partition(), message.offset()
                if partition in wanted and offset is not None and offset < wanted[partition]:
                    yield message
                    if offset + 1 >= wanted[partition]:
                        del wanted[partition]
    finally:
        consumer.close()


def wait_quiescent(
    bootstrap: str,
    database_url: str,
    topic: str,
    dead_letter_topic: str,
    group_names: Sequence[str],
    settle_s: float,
    timeout_s: float,
) -> float:
    """Wait until every group's lag is 0 and neither the table nor the dead-letter
    topic changed for ``settle_s``; return the seconds it took."""
    began = time.monotonic()
    seen: tuple[int, int] | None = None
    since = began

    def quiet() -> bool:
        nonlocal seen, since
        if any(groups.lag(bootstrap, topic, group_names).values()):
            seen = None
            return False
        now_seen = (row_count(database_url), _size(bootstrap, dead_letter_topic))
        now = time.monotonic()
        if now_seen != seen:
            seen, since = now_seen, now
        return now - since >= settle_s

    wait_until(quiet, timeout=timeout_s, what="lag 0 and a stable table", max_interval=0.5)
    return time.monotonic() - began


def _size(bootstrap: str, topic: str) -> int:
    return sum(high for _, high in groups.end_offsets(bootstrap, topic).values())


def _headers(message: Message) -> dict[str, str]:
    raw = message.headers() or []
    pairs = raw.items() if isinstance(raw, dict) else raw
    return {
        name: value.decode(errors="replace") if isinstance(value, bytes) else (value or "")
        for name, value in pairs
    }


def _dead_letter(message: Message) -> DeadLetter:
    headers = _headers(message)
    where = f"{message.topic()}[{message.partition()}]@{message.offset()}"
    key = identity(headers) or ("", where)
    stamp = message.timestamp()[1]
    return DeadLetter(
        key=key,
        function=headers.get(ERROR + "function", ""),
        attempts=int(headers.get(ERROR + "attempts") or 0),
        first_failure=_epoch(headers.get(ERROR + "first.failure")),
        written_at=stamp / 1000,
        reason=headers.get(ERROR + "reason", ""),
    )


def _epoch(text: str | None) -> float | None:
    if not text:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return None
