"""What clients send to ``/publish``, turned into validated CloudEvents.

Accepted forms: the original system's plain JSON object
(``{"type": "TEMP", "value": "ALERT:90"}``), a JSON array of them, a structured
CloudEvent (``application/cloudevents+json``, or any JSON object with
``specversion``), a batch (``application/cloudevents-batch+json``) and binary
mode (``ce-*`` headers). Missing ``id`` (UUIDv7), ``source``, ``time`` and
``specversion`` are filled in; a plain object becomes the event's data.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, ValidationError

from eventcore.cloudevent import (
    BATCH,
    JSON_CONTENT_TYPE,
    PARTITION_KEY,
    SPECVERSION,
    STRUCTURED,
    CloudEvent,
    EventId,
    EventType,
    Source,
    Text,
    Timestamp,
    format_time,
    problems_from,
    validate_event,
)
from eventcore.errors import (
    FieldProblem,
    InvalidEventError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from eventcore.http_binding import HttpMessage, Mode
from eventcore.ids import uuid7

# Content types read as JSON whose shape decides the form. text/plain is what
# the fn CLI sends by default, and application/x-www-form-urlencoded is what
# `curl -d` sends when -H is forgotten: the body is JSON all the same (and
# anything else still gets a 400 naming the problem).
_AUTO_JSON = frozenset(
    {
        "",
        "*/*",
        "application/json",
        "text/json",
        "text/plain",
        "application/x-www-form-urlencoded",
    }
)
# Bounds that keep one request's work, and every event's encoding, finite.
MAX_EVENTS = 10_000
MAX_DEPTH = 64


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class Defaults:
    """How missing attributes are filled in."""

    source: str = "/eventfn/publish"
    new_id: Callable[[], str] = uuid7
    now: Callable[[], datetime] = field(default=_now)

    def time(self) -> str:
        return format_time(self.now(), "microseconds")


@dataclass(frozen=True)
class Ingested:
    """The events of one request; ``single`` when it carried one event, not a list."""

    events: list[CloudEvent]
    single: bool


class PlainEvent(BaseModel):
    """The original system's event: a type, a value, anything else kept as data."""

    model_config = ConfigDict(extra="allow", strict=True)

    type: EventType
    value: Any = None
    id: EventId | None = None
    source: Source | None = None
    subject: Text | None = None
    time: Timestamp | None = None


def parse_request(
    body: bytes, headers: Mapping[str, str], defaults: Defaults, max_bytes: int
) -> Ingested:
    """Read one request into events; raises an EventError naming what is wrong."""
    if len(body) > max_bytes:
        raise PayloadTooLargeError(len(body), max_bytes)
    message = HttpMessage.read(headers, body)
    if message.mode is Mode.BINARY:
        return Ingested([_binary(message, defaults)], single=True)
    media = message.media_type
    if message.mode is Mode.OTHER and media not in _AUTO_JSON and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(message.content_type)
    document = _load_json(body)
    if message.mode is Mode.STRUCTURED:
        if not isinstance(document, dict):
            raise _problem("body", f"{STRUCTURED} must be one JSON object")
        return Ingested([_structured(document, "", defaults)], single=True)
    if message.mode is Mode.BATCH:
        if not isinstance(document, list):
            raise _problem("body", f"{BATCH} must be a JSON array of events")
        return Ingested(_each(document, defaults, structured_only=True), single=False)
    if isinstance(document, dict):
        return Ingested([_auto(document, "", defaults)], single=True)
    if isinstance(document, list):
        return Ingested(_each(document, defaults, structured_only=False), single=False)
    raise _problem(
        "body", f"must be a JSON object or an array of objects, not {_json_kind(document)}"
    )


def with_partition_key(attributes: dict[str, Any]) -> dict[str, Any]:
    """Give the event a ``partitionkey``: its own, else its subject, else its id."""
    if PARTITION_KEY not in attributes:
        subject = attributes.get("subject")
        key = subject if isinstance(subject, str) and subject else attributes.get("id")
        attributes[PARTITION_KEY] = key
    return attributes


def _each(items: list[Any], defaults: Defaults, structured_only: bool) -> list[CloudEvent]:
    if not items:
        raise _problem("body", "holds no events")
    if len(items) > MAX_EVENTS:
        raise _problem("body", f"holds {len(items)} events; send at most {MAX_EVENTS} at a time")
    events: list[CloudEvent] = []
    problems: list[FieldProblem] = []
    for index, item in enumerate(items):
        where = f"[{index}]"
        try:
            if not isinstance(item, dict):
                raise _problem(where, f"must be a JSON object, not {_json_kind(item)}")
            event = (
                _structured(item, where, defaults)
                if structured_only
                else _auto(item, where, defaults)
            )
            events.append(event)
        except InvalidEventError as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidEventError(problems)
    return events


def _auto(document: dict[str, Any], where: str, defaults: Defaults) -> CloudEvent:
    if "specversion" in document:
        return _structured(document, where, defaults)
    return _plain(document, where, defaults)


def _structured(document: dict[str, Any], where: str, defaults: Defaults) -> CloudEvent:
    attributes = dict(document)
    attributes.setdefault("specversion", SPECVERSION)
    attributes.setdefault("id", defaults.new_id())
    attributes.setdefault("source", defaults.source)
    attributes.setdefault("time", defaults.time())
    return validate_event(with_partition_key(attributes), where)


def _plain(document: dict[str, Any], where: str, defaults: Defaults) -> CloudEvent:
    try:
        plain = PlainEvent.model_validate(document)
    except ValidationError as error:
        raise InvalidEventError(problems_from(error, where)) from None
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": plain.id or defaults.new_id(),
        "source": plain.source or defaults.source,
        "type": plain.type,
        "time": plain.time or defaults.time(),
        "datacontenttype": JSON_CONTENT_TYPE,
        "data": document,
    }
    if plain.subject is not None:
        attributes["subject"] = plain.subject
    return validate_event(with_partition_key(attributes), where)


def _binary(message: HttpMessage, defaults: Defaults) -> CloudEvent:
    # Data that says it is JSON must be JSON, and storable: refused now, as
    # in every other form.
    attributes = message.binary_event(load_json=_load_json)
    attributes.setdefault("id", defaults.new_id())
    attributes.setdefault("source", defaults.source)
    attributes.setdefault("time", defaults.time())
    return validate_event(with_partition_key(attributes))


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise _problem("body", 'is empty; send a JSON event such as {"type":"TEMP","value":42}')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _problem("body", f"is not valid JSON ({error})") from None
    if problem := _unstorable(document):
        raise InvalidEventError([problem])
    return document


def _unstorable(document: Any) -> FieldProblem | None:
    """What in a JSON document eventfn could not carry on, and where: nesting
    past MAX_DEPTH (encoders stop near 255 levels) or a NUL character, which
    no PostgreSQL text or jsonb value holds."""
    pending: list[tuple[Any, int, str]] = [(document, 0, "")]
    while pending:
        value, depth, path = pending.pop()
        if isinstance(value, dict | list) and depth >= MAX_DEPTH:
            return FieldProblem(path or "body", f"nests deeper than {MAX_DEPTH} levels")
        if isinstance(value, dict):
            for key, item in value.items():
                where = f"{path}.{key}" if path else key
                if "\x00" in key:
                    return FieldProblem(path or "body", _NUL)
                pending.append((item, depth + 1, where))
        elif isinstance(value, list):
            pending.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(value))
        elif isinstance(value, str) and "\x00" in value:
            return FieldProblem(path or "body", _NUL)
    return None


_NUL = "holds a NUL (\\u0000) character, which eventfn cannot store"


def _json_kind(value: Any) -> str:
    kinds = {
        str: "a string",
        bool: "a boolean",
        int: "a number",
        float: "a number",
        list: "an array",
    }
    return "null" if value is None else kinds.get(type(value), type(value).__name__)


def _problem(field_name: str, problem: str) -> InvalidEventError:
    return InvalidEventError([FieldProblem(field_name, problem)])
