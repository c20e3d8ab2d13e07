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

from eventcore.cloudevent import (
    BATCH,
    JSON_CONTENT_TYPE,
    PARTITION_KEY,
    SPECVERSION,
    STRUCTURED,
    CloudEvent,
    attribute_problems,
    format_time,
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

    def __post_init__(self) -> None:
        # Checked once here, not in every event that gets it.
        if problems := attribute_problems({"source": self.source}, ["source"]):
            raise ValueError(f"default source {self.source!r}: {problems[0].problem}")

    def time(self) -> str:
        return format_time(self.now(), "microseconds")


@dataclass(frozen=True)
class Ingested:
    """The events of one request; ``single`` when it carried one event, not a list."""

    events: list[CloudEvent]
    single: bool


# The original system's event: a type, a value, anything else kept as data.
# These of its fields are also attributes, checked as the CloudEvent checks them.
_PLAIN_ATTRIBUTES = ("type", "id", "source", "subject", "time")
_PLAIN_REQUIRED = frozenset({"type"})


def parse_request(
    body: bytes, headers: Mapping[str, str], defaults: Defaults, max_bytes: int
) -> Ingested:
    """Read one request into events; raises an EventError naming what is wrong.

    Events without a time get the request's: they were all received at once.
    """
    if len(body) > max_bytes:
        raise PayloadTooLargeError(len(body), max_bytes)
    message = HttpMessage.read(headers, body)
    now = defaults.time()
    if message.mode is Mode.BINARY:
        return Ingested([_binary(message, defaults, now)], single=True)
    media = message.media_type
    if message.mode is Mode.OTHER and media not in _AUTO_JSON and not media.endswith("+json"):
        raise UnsupportedMediaTypeError(message.content_type)
    document = _load_json(body)
    if message.mode is Mode.STRUCTURED:
        if not isinstance(document, dict):
            raise _problem("body", f"{STRUCTURED} must be one JSON object")
        return Ingested([_structured(document, "", defaults, now)], single=True)
    if message.mode is Mode.BATCH:
        if not isinstance(document, list):
            raise _problem("body", f"{BATCH} must be a JSON array of events")
        return Ingested(_each(document, defaults, now, structured_only=True), single=False)
    if isinstance(document, dict):
        return Ingested([_auto(document, "", defaults, now)], single=True)
    if isinstance(document, list):
        return Ingested(_each(document, defaults, now, structured_only=False), single=False)
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


def _each(
    items: list[Any], defaults: Defaults, now: str, structured_only: bool
) -> list[CloudEvent]:
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
                _structured(item, where, defaults, now)
                if structured_only
                else _auto(item, where, defaults, now)
            )
            events.append(event)
        except InvalidEventError as error:
            problems.extend(error.problems)
    if problems:
        raise InvalidEventError(problems)
    return events


def _auto(document: dict[str, Any], where: str, defaults: Defaults, now: str) -> CloudEvent:
    if "specversion" in document:
        return _structured(document, where, defaults, now)
    return _plain(document, where, defaults, now)


def _structured(document: dict[str, Any], where: str, defaults: Defaults, now: str) -> CloudEvent:
    attributes = dict(document)
    attributes.setdefault("specversion", SPECVERSION)
    if "id" not in attributes:
        attributes["id"] = defaults.new_id()
    attributes.setdefault("source", defaults.source)
    attributes.setdefault("time", now)
    return validate_event(with_partition_key(attributes), where)


def _plain(document: dict[str, Any], where: str, defaults: Defaults, now: str) -> CloudEvent:
    # Its fields checked as the attributes they become; the rest of the
    # CloudEvent is the defaults' and needs no check.
    problems = attribute_problems(document, _PLAIN_ATTRIBUTES, _PLAIN_REQUIRED, where)
    if problems:
        raise InvalidEventError(problems)
    get = document.get
    event_id = get("id") or defaults.new_id()
    subject = get("subject")
    return CloudEvent(
        specversion=SPECVERSION,
        id=event_id,
        source=get("source") or defaults.source,
        type=document["type"],
        datacontenttype=JSON_CONTENT_TYPE,
        subject=subject,
        time=get("time") or now,
        data=document,
        extension_attributes={PARTITION_KEY: subject or event_id},
    )


def _binary(message: HttpMessage, defaults: Defaults, now: str) -> CloudEvent:
    # Data that says it is JSON must be JSON, and storable: refused now, as
    # in every other form.
    attributes = message.binary_event(load_json=_load_json)
    if "id" not in attributes:
        attributes["id"] = defaults.new_id()
    attributes.setdefault("source", defaults.source)
    attributes.setdefault("time", now)
    return validate_event(with_partition_key(attributes))


def _load_json(body: bytes) -> Any:
    if not body.strip():
        raise _problem("body", 'is empty; send a JSON event such as {"type":"TEMP","value":42}')
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise _problem("body", f"is not valid JSON ({error})") from None
    # JSON spells a NUL only as this escape (orjson refuses a raw one), so a
    # body without it needs only its nesting checked.
    if problem := _unstorable(document, nul=_NUL_ESCAPE in body):
        raise InvalidEventError([problem])
    return document


_NUL_ESCAPE = b"\\u0000"


def _unstorable(document: Any, nul: bool = True) -> FieldProblem | None:
    """What in a JSON document eventfn could not carry on, and where: nesting
    past MAX_DEPTH (encoders stop near 255 levels) or, unless ``nul`` is false,
    a NUL character, which no PostgreSQL text or jsonb value holds."""
    if not isinstance(document, _CONTAINERS):
        text_nul = nul and isinstance(document, str) and "\x00" in document
        return FieldProblem("body", _NUL) if text_nul else None
    found = _first_unstorable(document, nul, 0)
    if found is None:
        return None
    problem, where = found
    path = ""
    for part in reversed(where):
        path = f"{path}[{part}]" if isinstance(part, int) else f"{path}.{part}" if path else part
    return FieldProblem(path or "body", problem)


_CONTAINERS = (dict, list)


def _first_unstorable(value: Any, nul: bool, depth: int) -> tuple[str, list[str | int]] | None:
    """The first problem, with its path innermost first; no path is built
    unless there is one (most documents are clean)."""
    if depth >= MAX_DEPTH:
        return f"nests deeper than {MAX_DEPTH} levels", []
    items = value.items() if isinstance(value, dict) else enumerate(value)
    for key, item in items:
        if nul and isinstance(key, str) and "\x00" in key:
            return _NUL, []
        if isinstance(item, _CONTAINERS):
            if found := _first_unstorable(item, nul, depth + 1):
                found[1].append(key)
                return found
        elif nul and isinstance(item, str) and "\x00" in item:
            return _NUL, [key]
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
