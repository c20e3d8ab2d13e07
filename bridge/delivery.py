"""The bridge's decisions, free of I/O: what a batch's answer means for each record,
when to retry, when a record becomes a dead letter, and which offsets may be committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import orjson

from eventcore.backoff import Backoff
from eventcore.batch import BatchResult
from eventcore.kafka_binding import HEADER_PREFIX, from_record
from eventcore.record_batch import RECORDS, Entry, Header, encode

_REQUIRED = ("specversion", "id", "source", "type")
# MessagePack's framing of one entry, at most: array, coordinates, lengths.
_ENTRY_OVERHEAD = 48
_HEADER_OVERHEAD = 11


@dataclass(eq=False)  # a record is itself: compared by identity
class Record:
    """One consumed Kafka record and how its delivery is going."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: list[Header]
    timestamp_ms: int | None = None
    # every failed delivery, and those where the function itself refused the
    # event: only the latter count towards dead-lettering
    attempts: int = 0
    rejections: int = 0
    first_failure: float | None = None
    last_failure: float | None = None
    last_status: int | None = None
    last_reason: str = ""

    @cached_property
    def size(self) -> int:
        """Bytes it takes in a batch of records, at most: for sizing batches."""
        return (
            _ENTRY_OVERHEAD
            + len(self.topic)  # Kafka's topic names are ASCII
            + len(self.key or b"")
            + len(self.value or b"")
            + sum(
                len(name.encode()) + len(value or b"") + _HEADER_OVERHEAD
                for name, value in self.headers
            )
        )

    @cached_property
    def event(self) -> dict[str, Any]:
        """The record read as the functions read it. Only what goes wrong needs
        it (an identity to match a failure, a log line): the bridge forwards
        records as they are."""
        return from_record(
            self.topic,
            self.partition,
            self.offset,
            self.key,
            self.value,
            self.headers,
            self.timestamp_ms,
        )

    @cached_property
    def json(self) -> bytes:
        """The event as structured JSON; TypeError when nested too deep to encode."""
        return orjson.dumps(self.event)

    def weight(self, media_type: str) -> int:
        """Bytes it adds to a batch body of this type, at most; TypeError as ``json``."""
        return self.size if media_type == RECORDS else len(self.json) + 1

    @property
    def entry(self) -> Entry:
        return Entry(
            self.topic,
            self.partition,
            self.offset,
            self.timestamp_ms,
            self.key,
            self.value,
            self.headers,
        )

    @property
    def identity(self) -> tuple[Any, Any]:
        return self.event.get("source"), self.event.get("id")

    @property
    def coordinates(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def age_s(self, now: float) -> float:
        """Seconds since the record was written to Kafka (0 when unknown)."""
        return 0.0 if self.timestamp_ms is None else now - self.timestamp_ms / 1000

    def blame(self) -> None:
        """Its failure, once thought the function's, turned out to be its own."""
        self.rejections += 1

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


def inadmissible(record: Record, max_bytes: int, media_type: str = RECORDS) -> str | None:
    """Why a record can never be sent to a function, or None."""
    names = {name.lower() for name, _ in record.headers}
    if HEADER_PREFIX + "specversion" in names:
        # Binary mode, as publish writes: the headers tell without decoding.
        missing = [name for name in _REQUIRED if HEADER_PREFIX + name not in names]
    else:
        missing = [name for name in _REQUIRED if not isinstance(record.event.get(name), str)]
    if missing:
        return f"not a CloudEvent: {', '.join(missing)} missing or not a string"
    try:
        size = record.weight(media_type)
    except TypeError as error:  # nested deeper than the encoder goes
        return f"cannot be encoded as JSON: {error}"
    if size + 2 > max_bytes:
        return f"{size} bytes in a batch, over the {max_bytes}-byte batch limit"
    return None


def batch_body(records: Sequence[Record], media_type: str = RECORDS) -> bytes:
    """The body of a batch: the records as Kafka gave them (see record_batch.py),
    or structured events in a JSON array (``application/cloudevents-batch+json``)."""
    if media_type == RECORDS:
        return encode([record.entry for record in records])
    return b"[" + b",".join(record.json for record in records) + b"]"


def split_by_size(
    records: Sequence[Record], max_bytes: int, media_type: str = RECORDS
) -> list[list[Record]]:
    """Consecutive chunks whose batch bodies stay within ``max_bytes``."""
    chunks: list[list[Record]] = []
    current: list[Record] = []
    size = 5
    for record in records:
        weight = record.weight(media_type)
        if current and size + weight > max_bytes:
            chunks.append(current)
            current, size = [], 5
        current.append(record)
        size += weight
    if current:
        chunks.append(current)
    return chunks


@dataclass(frozen=True)
class RetryPolicy:
    """When a failing record is retried, and when it becomes a dead letter."""

    max_attempts: int = 5
    # 0: no limit. A record older than this that fails is dead-lettered
    # instead of retried, whatever the failure (Lambda's MaximumRecordAge).
    max_age_s: float = 0.0
    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 30.0

    def expired(self, record: Record, now: float) -> bool:
        return self.max_age_s > 0 and record.age_s(now) > self.max_age_s

    def is_dead(self, record: Record, now: float, retryable: bool = True) -> bool:
        """After a failure: give up on this record, rather than retry it?"""
        if self.expired(record, now):
            record.last_reason = (
                f"older than the maximum record age ({self.max_age_s:g}s): {record.last_reason}"
            )
            return True
        return not retryable or record.rejections >= self.max_attempts

    def delay(self, attempt: int, retry_after_s: float | None = None) -> float:
        return Backoff(self.backoff_initial_s, self.backoff_cap_s).jittered(attempt, retry_after_s)


def apply_result(
    records: Sequence[Record], result: BatchResult, now: float, policy: RetryPolicy
) -> Outcome:
    """Apply a function's partial-failure answer: only the failed records stay."""
    if not result.failures:
        return Outcome(list(records), [], [])
    failures = {(f.source, f.id): f for f in result.failures}
    delivered: list[Record] = []
    retry: list[Record] = []
    dead: list[Record] = []
    for record in records:
        failure = failures.get(record.identity)
        if failure is None:
            delivered.append(record)
            continue
        record.failed(now, 200, failure.reason, rejected=True)
        (dead if policy.is_dead(record, now, failure.retryable) else retry).append(record)
    return Outcome(delivered, retry, dead)


def blames_no_event(status: int | None) -> bool:
    """A whole POST failed in a way that says nothing about its events: the
    gateway was unreachable (None), refused the bridge's credential (401, 403),
    was busy (429, 503) or had no such function (404). Any other failure (500,
    502, 504, an unreadable answer) may come from one event that crashes or
    hangs the function."""
    return status in (None, 401, 403, 404, 429, 503)
