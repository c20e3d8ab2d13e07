"""Batches from the bridge, and the partial-failure result a function answers with.

The bridge POSTs its Kafka records as they are (see record_batch.py), and
the function reads each with the Kafka binding; other senders may POST
``application/cloudevents-batch+json``, a JSON array of structured events. The function
answers 200 with a :class:`BatchResult`; a failure names the event and says
whether a retry can help. Failure is a value here, not an exception.

A Knative KafkaSource (or any CloudEvents sender) POSTs one event instead, in
the HTTP binding's binary mode (``ce-*`` headers, the data as the body) or
structured mode (``application/cloudevents+json``): :func:`parse_delivery`
reads it as a batch of one, and the answer's status tells such a sender the
outcome, as it reads no body.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventcore.cloudevent import STRUCTURED, CloudEvent, validate_event
from eventcore.errors import FieldProblem, InvalidEventError
from eventcore.http_binding import HttpMessage, Mode
from eventcore.kafka_binding import from_record
from eventcore.record_batch import RECORDS
from eventcore.record_batch import decode as decode_records


@dataclass(frozen=True)
class Failure:
    """One event the function could not process."""

    id: str | None
    source: str | None
    reason: str
    retryable: bool


@dataclass(frozen=True)
class BatchResult:
    """What a batch function answers: the failures (empty when all succeeded) and counts."""

    failures: tuple[Failure, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        # orjson writes a dataclass as an object of its fields.
        return orjson.dumps({"failures": self.failures, **self.counts})

    @classmethod
    def from_bytes(cls, body: bytes) -> BatchResult:
        """Read a function's answer; ValueError when it is not a batch result."""
        try:
            document = orjson.loads(body)
        except orjson.JSONDecodeError as error:
            raise ValueError(f"batch result is not JSON: {error}") from None
        if not isinstance(document, dict) or not isinstance(document.get("failures"), list):
            raise ValueError('batch result must be an object with a "failures" array')
        failures = []
        for item in document["failures"]:
            if not isinstance(item, dict):
                raise ValueError("each failure must be an object")
            failures.append(
                Failure(
                    id=_optional_text(item.get("id")),
                    source=_optional_text(item.get("source")),
                    reason=str(item.get("reason", "")),
                    retryable=bool(item.get("retryable", True)),
                )
            )
        counts = {k: v for k, v in document.items() if isinstance(v, int) and k != "failures"}
        return cls(tuple(failures), counts)


@dataclass(frozen=True)
class ParsedBatch:
    """The acceptable events of a batch, and the failures of the rest."""

    events: list[CloudEvent]
    failures: list[Failure]
    # One event, not a batch: its sender learns the outcome from the status alone.
    single: bool = False


def parse_delivery(body: bytes, headers: Mapping[str, str]) -> ParsedBatch:
    """What persist and alert are sent: the bridge's batch of Kafka records, a
    batch of structured events, or one CloudEvent in binary or structured mode
    (a KafkaSource's delivery)."""
    message = HttpMessage.read(headers, body)
    if message.media_type == RECORDS:
        return parse_records(body)
    if message.mode is Mode.BINARY:
        # JSON data that does not parse stays bytes: the event is refused, naming it.
        return _single(message.binary_event())
    if message.mode is Mode.STRUCTURED:
        document = _load(body, "event")
        if not isinstance(document, dict):
            raise InvalidEventError([FieldProblem("body", f"{STRUCTURED} must be one JSON object")])
        return _single(document)
    return parse_batch(body)


def parse_batch(body: bytes) -> ParsedBatch:
    """Split a batch into valid events and per-event failures (never retryable).

    A body that is not a JSON array at all is the caller's bug, not the
    events': it raises InvalidEventError.
    """
    document = _load(body, "batch")
    if not isinstance(document, list):
        raise InvalidEventError([FieldProblem("body", "batch must be a JSON array of events")])
    return _split(document)


def parse_records(body: bytes) -> ParsedBatch:
    """The bridge's batch: each Kafka record read as the Kafka binding reads it
    (a record that is no CloudEvent is wrapped, as a KafkaSource does), then
    checked like any other event."""
    return _split(
        from_record(
            entry.topic,
            entry.partition,
            entry.offset,
            entry.key,
            entry.value,
            entry.headers,
            entry.timestamp_ms,
        )
        for entry in decode_records(body)
    )


def _split(items: Iterable[Any]) -> ParsedBatch:
    events: list[CloudEvent] = []
    failures: list[Failure] = []
    for item in items:
        outcome = _entry(item)
        if isinstance(outcome, CloudEvent):
            events.append(outcome)
        else:
            failures.append(outcome)
    return ParsedBatch(events, failures)


def _single(item: dict[str, Any]) -> ParsedBatch:
    outcome = _entry(item)
    if isinstance(outcome, CloudEvent):
        return ParsedBatch([outcome], [], single=True)
    return ParsedBatch([], [outcome], single=True)


def _entry(item: Any) -> CloudEvent | Failure:
    """One event of a delivery, or why it cannot be processed (never retryable)."""
    if not isinstance(item, dict):
        return Failure(None, None, "batch entry is not a JSON object", False)
    try:
        event = validate_event(item)
    except InvalidEventError as error:
        reason = "; ".join(str(p) for p in error.problems)
        return Failure(
            _optional_text(item.get("id")), _optional_text(item.get("source")), reason, False
        )
    if event.data_base64 is not None and event.datacontenttype and event.is_json:
        return Failure(
            event.id, event.source, "data is not valid JSON but its content type says JSON", False
        )
    return event


def _load(body: bytes, what: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidEventError(
            [FieldProblem("body", f"{what} is not valid JSON ({error})")]
        ) from None


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
