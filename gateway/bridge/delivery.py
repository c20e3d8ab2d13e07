"""The bridge's decisions, free of I/O: what a batch's answer means for each record,
when to retry, when a record becomes a dead letter, and which offsets may be committed.
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventcore.batch import BatchResult
from eventcore.kafka_binding import Headers, from_record

_REQUIRED = ("specversion", "id", "source", "type")


@dataclass
class Record:
    """One consumed Kafka record and how its delivery is going."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Headers
    timestamp_ms: int | None = None
    # every failed delivery, and those where the function itself refused the
    # event: only the latter count towards dead-lettering
    attempts: int = 0
    rejections: int = 0
    first_failure: float | None = None
    last_failure: float | None = None
    last_status: int | None = None
    last_reason: str = ""
    event: dict[str, Any] = field(default_factory=dict)
    encoded: bytes = b""
    encode_error: str | None = None

    def __post_init__(self) -> None:
        self.event = from_record(
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.value,
            self.headers,
            self.timestamp_ms,
        )
        # Encoded once: for sizing the batch and for its body.
        try:
            self.encoded = orjson.dumps(self.event)
        except TypeError as error:  # nested deeper than the encoder goes
            self.encode_error = str(error)

    @property
    def identity(self) -> tuple[Any, Any]:
        return self.event.get("source"), self.event.get("id")

    @property
    def coordinates(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def failed(self, now: float, status: int | None, reason: str, rejected: bool) -> None:
        self.attempts += 1
        self.rejections += rejected
        self.first_failure = self.first_failure or now
        self.last_failure = now
        self.last_status = status
        self.last_reason = reason


@dataclass(frozen=True)
class Outcome:
    """What became of a batch's records after one attempt."""

    delivered: list[Record]
    retry: list[Record]
    dead: list[Record]


def inadmissible(record: Record, max_bytes: int) -> str | None:
    """Why a record can never be sent to a function, or None."""
    missing = [name for name in _REQUIRED if not isinstance(record.event.get(name), str)]
    if missing:
        return f"not a CloudEvent: {', '.join(missing)} missing or not a string"
    if record.encode_error is not None:
        return f"cannot be encoded as JSON: {record.encode_error}"
    if len(record.encoded) + 2 > max_bytes:
        return f"{len(record.encoded)} bytes as JSON, over the {max_bytes}-byte batch limit"
    return None


def batch_body(records: Sequence[Record]) -> bytes:
    """The ``application/cloudevents-batch+json`` body for these records."""
    return b"[" + b",".join(record.encoded for record in records) + b"]"


def split_by_size(records: Sequence[Record], max_bytes: int) -> list[list[Record]]:
    """Consecutive chunks whose batch bodies stay within ``max_bytes``."""
    chunks: list[list[Record]] = []
    current: list[Record] = []
    size = 2
    for record in records:
        weight = len(record.encoded) + 1
        if current and size + weight > max_bytes:
            chunks.append(current)
            current, size = [], 2
        current.append(record)
        size += weight
    if current:
        chunks.append(current)
    return chunks


def apply_result(
    records: Sequence[Record], result: BatchResult, now: float, max_attempts: int
) -> Outcome:
    """Apply a function's partial-failure answer: only the failed records stay."""
    failures = {(f.source, f.id): f for f in result.failures}
    delivered, retry, dead = [], [], []
    for record in records:
        failure = failures.get(record.identity)
        if failure is None:
            delivered.append(record)
            continue
        record.failed(now, 200, failure.reason, rejected=True)
        if not failure.retryable or record.rejections >= max_attempts:
            dead.append(record)
        else:
            retry.append(record)
    return Outcome(delivered, retry, dead)


def apply_batch_failure(
    records: Sequence[Record], status: int | None, reason: str, now: float
) -> Outcome:
    """The whole batch failed (transport error, 5xx, unreadable answer).

    That says the function or what it depends on is unwell, not that these
    events are bad, so they are retried and never dead-lettered for it.
    """
    for record in records:
        record.failed(now, status, reason, rejected=False)
    return Outcome([], list(records), [])


def committable(records: Iterable[Record], unfinished: Iterable[Record]) -> dict[int, int]:
    """The offset to commit per partition: up to, never past, the lowest unfinished one."""
    highest: dict[int, int] = {}
    for record in records:
        highest[record.partition] = max(highest.get(record.partition, -1), record.offset + 1)
    lowest_open: dict[int, int] = {}
    for record in unfinished:
        lowest_open[record.partition] = min(
            lowest_open.get(record.partition, record.offset), record.offset
        )
    return {
        partition: min(offset, lowest_open.get(partition, offset))
        for partition, offset in highest.items()
    }


def backoff(
    attempt: int,
    initial_s: float,
    cap_s: float,
    retry_after_s: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Exponential backoff with equal jitter, capped; never sooner than Retry-After."""
    ceiling = min(cap_s, initial_s * math.pow(2, max(attempt - 1, 0)))
    delay = (rng or random).uniform(ceiling / 2, ceiling)
    return max(delay, retry_after_s or 0.0)
