"""Batches from the bridge, and the partial-failure result a function answers with.

The bridge POSTs ``application/cloudevents-batch+json``: a JSON array of
structured events, each with its Kafka coordinates as extensions. The function
answers 200 with a :class:`BatchResult`; a failure names the event and says
whether a retry can help. Failure is a value here, not an exception.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from eventcore.cloudevent import CloudEvent, validate_event
from eventcore.errors import FieldProblem, InvalidEventError

MEDIA_TYPE = "application/cloudevents-batch+json"


@dataclass(frozen=True)
class Failure:
    """One event the function could not process."""

    id: str | None
    source: str | None
    reason: str
    retryable: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "source": self.source,
            "reason": self.reason,
            "retryable": self.retryable,
        }


@dataclass(frozen=True)
class BatchResult:
    """What a batch function answers: the failures (empty when all succeeded) and counts."""

    failures: tuple[Failure, ...] = ()
    counts: Mapping[str, int] = field(default_factory=dict)

    def to_bytes(self) -> bytes:
        return orjson.dumps({"failures": [f.to_json() for f in self.failures], **self.counts})

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


def parse_batch(body: bytes) -> ParsedBatch:
    """Split a batch into valid events and per-event failures (never retryable).

    A body that is not a JSON array at all is the caller's bug, not the
    events': it raises InvalidEventError.
    """
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise InvalidEventError(
            [FieldProblem("body", f"batch is not valid JSON ({error})")]
        ) from None
    if not isinstance(document, list):
        raise InvalidEventError([FieldProblem("body", "batch must be a JSON array of events")])
    events: list[CloudEvent] = []
    failures: list[Failure] = []
    for item in document:
        if not isinstance(item, dict):
            failures.append(Failure(None, None, "batch entry is not a JSON object", False))
            continue
        try:
            event = validate_event(item)
        except InvalidEventError as error:
            reason = "; ".join(str(p) for p in error.problems)
            failures.append(
                Failure(
                    _optional_text(item.get("id")),
                    _optional_text(item.get("source")),
                    reason,
                    False,
                )
            )
            continue
        if event.data_base64 is not None and event.datacontenttype and event.is_json:
            failures.append(
                Failure(
                    event.id,
                    event.source,
                    "data is not valid JSON but its content type says JSON",
                    False,
                )
            )
            continue
        events.append(event)
    return ParsedBatch(events, failures)


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) else None
