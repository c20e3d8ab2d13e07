"""The CloudEvents 1.0 model every part of eventfn speaks."""

from __future__ import annotations

import base64
import binascii
import re
import sys
from collections.abc import Callable, Collection, Iterable, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

import orjson
from pydantic import ValidationError

from eventcore.errors import FieldProblem, InvalidEventError

SPECVERSION = "1.0"
JSON_CONTENT_TYPE = "application/json"
STRUCTURED = "application/cloudevents+json"
BATCH = "application/cloudevents-batch+json"
# The extension the Kafka binding maps to the record key.
PARTITION_KEY = "partitionkey"
_EXTENSION_NAME = re.compile(r"[a-z0-9]{1,20}")
_MAX_EXTENSION_BYTES = 1024


def parse_time(value: str) -> datetime:
    """An RFC 3339 timestamp with an offset; ValueError otherwise."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError("must be an RFC 3339 timestamp, e.g. 2024-05-01T12:00:00Z") from None
    if parsed.tzinfo is None or "T" not in value.upper():
        raise ValueError("must be an RFC 3339 timestamp with a time zone offset")
    return parsed


def format_time(moment: datetime, timespec: str = "milliseconds") -> str:
    """RFC 3339 in UTC with a ``Z``, as every timestamp eventfn writes."""
    return moment.astimezone(UTC).isoformat(timespec=timespec).replace("+00:00", "Z")


_REQUIRED = "Field required"
_NOT_TEXT = "Input should be a valid string"
_EMPTY = "String should have at least 1 character"
_NUL = "must not contain NUL (\\u0000) characters"
_NO_UNICODE = "Input should be a valid string, unable to parse raw data as a unicode string"


def _text(max_bytes: int) -> Callable[[Any], str | None]:
    """Text PostgreSQL can store and index: no NUL, and bounded in UTF-8 bytes
    (a btree entry holds about 2.7 kB; source and id together stay well under)."""

    def problem(value: Any) -> str | None:
        if not isinstance(value, str):
            return _NOT_TEXT
        if not value:
            return _EMPTY
        if "\x00" in value:
            return _NUL
        length = _utf8_length(value)
        if length == _NOT_UTF8:
            return _NO_UNICODE
        if length > max_bytes:
            return f"must be at most {max_bytes} bytes in UTF-8"
        return None

    return problem


def _timestamp(value: Any) -> str | None:
    if not isinstance(value, str):
        return _NOT_TEXT
    try:
        parse_time(value)
    except ValueError as error:
        return str(error)
    return None


def _specversion(value: Any) -> str | None:
    if not isinstance(value, str):
        return _NOT_TEXT
    return None if value == SPECVERSION else f"must be {SPECVERSION!r}"


def _base64(value: Any) -> str | None:
    if not isinstance(value, str):
        return _NOT_TEXT
    try:
        base64.b64decode(value, validate=True)
    except binascii.Error:
        return "must be base64"
    except ValueError as error:  # not ASCII
        return str(error)
    return None


# Each context attribute's check, in the order problems are reported. The
# messages are pydantic's, which eventfn used before: clients and tests read them.
_CHECKS: dict[str, Callable[[Any], str | None]] = {
    "specversion": _specversion,
    "id": _text(256),
    "source": _text(1024),
    "type": _text(256),
    "datacontenttype": _text(1024),
    "dataschema": _text(1024),
    "subject": _text(1024),
    "time": _timestamp,
    "data_base64": _base64,
}
REQUIRED = frozenset({"specversion", "id", "source", "type"})
# What is not an extension attribute.
_ATTRIBUTES = frozenset({*_CHECKS, "data"})
_NO_EXTENSIONS: Mapping[str, str | int | bool] = MappingProxyType({})


class CloudEvent(NamedTuple):
    """A CloudEvent, immutable; build it with :func:`validate_event`.

    A named tuple, not a model: publish, persist and alert make one per event,
    and a tuple costs a quarter of a frozen dataclass to build. ``_replace`` makes
    a changed copy.
    """

    specversion: str
    id: str
    source: str
    type: str
    datacontenttype: str | None = None
    dataschema: str | None = None
    subject: str | None = None
    time: str | None = None
    data: Any = None
    data_base64: str | None = None
    extension_attributes: Mapping[str, str | int | bool] = _NO_EXTENSIONS

    @property
    def extensions(self) -> dict[str, str | int | bool]:
        """Extension attributes by name (a copy)."""
        return dict(self.extension_attributes)

    @property
    def is_json(self) -> bool:
        """Whether the data is JSON (absent content type means JSON in structured mode)."""
        content_type = self.datacontenttype
        return (
            content_type is None
            or content_type == JSON_CONTENT_TYPE
            or is_json_content_type(content_type)
        )

    def data_bytes(self) -> bytes | None:
        """The data as it travels in binary mode (Kafka value, HTTP body)."""
        if self.data_base64 is not None:
            return base64.b64decode(self.data_base64)
        if self.data is None:
            return None
        if self.is_json:
            return orjson.dumps(self.data)
        return self.data.encode() if isinstance(self.data, str) else orjson.dumps(self.data)

    def structured(self) -> dict[str, Any]:
        """The event as a structured-mode JSON object."""
        document = {
            name: value for name, value in zip(_FIELDS, self[:-1], strict=True) if value is not None
        }
        document.update(self.extension_attributes)
        return document


_FIELDS = CloudEvent._fields[:-1]


def media_type(content_type: str) -> str:
    """A Content-Type's ``type/subtype``, lower-cased, without its parameters."""
    return content_type.split(";", 1)[0].strip().lower()


def is_json_content_type(content_type: str) -> bool:
    """True for application/json, text/json and any ``+json`` suffix type."""
    media = media_type(content_type)
    return media in ("application/json", "text/json") or media.endswith("+json")


def data_attributes(
    value: bytes, content_type: str | None, load_json: Callable[[bytes], Any] = orjson.loads
) -> dict[str, Any]:
    """The data of a binary-mode message (HTTP body, Kafka value) as attributes.

    JSON data (no content type means JSON) is ``data``; anything else, and
    JSON that does not parse, is ``data_base64``, so the function receiving it
    can tell and refuse it. A ``load_json`` that raises instead refuses it now.
    """
    if not content_type or is_json_content_type(content_type):
        try:
            return {"data": load_json(value)}
        except orjson.JSONDecodeError:
            pass
    return {"data_base64": base64.b64encode(value).decode()}


def problems_from(error: ValidationError, prefix: str = "") -> list[FieldProblem]:
    """Turn pydantic's errors into field problems named like ``[3].type``."""
    problems = []
    for item in error.errors(include_url=False):
        path = prefix
        for part in item["loc"]:
            path = f"{path}[{part}]" if isinstance(part, int) else _join(path, str(part))
        message = item["msg"]
        if message.startswith("Value error, "):
            message = message[len("Value error, ") :]
        problems.append(FieldProblem(path, message))
    return problems


def attribute_problems(
    attributes: Mapping[str, Any],
    names: Iterable[str],
    required: Collection[str] = REQUIRED,
    prefix: str = "",
) -> list[FieldProblem]:
    """The problems of the named context attributes, in the order pydantic
    reported them; absent (or null) is fine for all but the required ones."""
    problems = []
    for name in names:
        value = attributes.get(name)
        if value is not None:
            problem = _CHECKS[name](value)
        elif name in required:
            problem = _NOT_TEXT if name in attributes else _REQUIRED
        else:
            continue
        if problem is not None:
            problems.append(FieldProblem(_join(prefix, name), problem))
    return problems


def validate_event(attributes: Mapping[str, Any], prefix: str = "") -> CloudEvent:
    """Validate a structured-mode event; InvalidEventError names the field."""
    problems = attribute_problems(attributes, _CHECKS, REQUIRED, prefix)
    if problems:
        raise InvalidEventError(problems)
    extensions = {name: value for name, value in attributes.items() if name not in _ATTRIBUTES}
    if extensions:
        problems = _extension_problems(extensions, prefix)
    get = attributes.get
    if get("data") is not None and get("data_base64") is not None:
        problems.append(
            FieldProblem(_join(prefix, "data"), "data and data_base64 exclude each other")
        )
    if problems:
        raise InvalidEventError(problems)
    return CloudEvent(
        SPECVERSION,
        attributes["id"],
        attributes["source"],
        attributes["type"],
        get("datacontenttype"),
        get("dataschema"),
        get("subject"),
        get("time"),
        get("data"),
        get("data_base64"),
        extensions or _NO_EXTENSIONS,
    )


def _extension_problems(extensions: dict[str, Any], prefix: str) -> list[FieldProblem]:
    problems = []
    for name, value in extensions.items():
        if not _EXTENSION_NAME.fullmatch(name):
            problem = (
                "not a CloudEvents attribute; extension names are 1-20 lower-case letters or digits"
            )
        elif isinstance(value, str):
            if "\x00" not in value and _utf8_length(value) <= _MAX_EXTENSION_BYTES:
                continue
            problem = f"extension strings must be at most {_MAX_EXTENSION_BYTES} bytes, without NUL"
        elif isinstance(value, int):  # bool is an int too
            continue
        else:
            problem = "extensions must be strings, integers or booleans"
        problems.append(FieldProblem(_join(prefix, name), problem))
    return problems


def _utf8_length(text: str) -> int:
    """Bytes in UTF-8 (ASCII, one byte a character, is not encoded to count);
    text that has none (a lone surrogate) counts as too long for anything."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode())
    except UnicodeEncodeError:
        return _NOT_UTF8


_NOT_UTF8 = sys.maxsize


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
