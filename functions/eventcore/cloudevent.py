"""The CloudEvents 1.0 model every part of eventfn speaks."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    StringConstraints,
    ValidationError,
    field_validator,
)

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


def _checked_time(value: str) -> str:
    parse_time(value)
    return value


def _storable(max_bytes: int) -> AfterValidator:
    """Text PostgreSQL can store and index: no NUL, and bounded in UTF-8 bytes
    (a btree entry holds about 2.7 kB; source and id together stay well under)."""

    def check(value: str) -> str:
        if "\x00" in value:
            raise ValueError("must not contain NUL (\\u0000) characters")
        if len(value.encode()) > max_bytes:
            raise ValueError(f"must be at most {max_bytes} bytes in UTF-8")
        return value

    return AfterValidator(check)


# Attribute types, shared by every model of an event.
EventId = Annotated[str, StringConstraints(min_length=1), _storable(256)]
Source = Annotated[str, StringConstraints(min_length=1), _storable(1024)]
EventType = Annotated[str, StringConstraints(min_length=1), _storable(256)]
Text = Annotated[str, StringConstraints(min_length=1), _storable(1024)]
Timestamp = Annotated[str, AfterValidator(_checked_time)]


class CloudEvent(BaseModel):
    """A CloudEvent; build it with :func:`validate_event`, which also checks extensions.

    Extension attributes are kept as pydantic extras.
    """

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)

    specversion: str
    id: EventId
    source: Source
    type: EventType
    datacontenttype: Text | None = None
    dataschema: Text | None = None
    subject: Text | None = None
    time: Timestamp | None = None
    data: Any = None
    data_base64: str | None = None

    @field_validator("specversion")
    @classmethod
    def _known_version(cls, value: str) -> str:
        if value != SPECVERSION:
            raise ValueError(f"must be {SPECVERSION!r}")
        return value

    @field_validator("data_base64")
    @classmethod
    def _base64(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                base64.b64decode(value, validate=True)
            except binascii.Error:
                raise ValueError("must be base64") from None
        return value

    @property
    def extensions(self) -> dict[str, str | int | bool]:
        """Extension attributes by name."""
        return dict(self.model_extra or {})

    @property
    def is_json(self) -> bool:
        """Whether the data is JSON (absent content type means JSON in structured mode)."""
        return is_json_content_type(self.datacontenttype or JSON_CONTENT_TYPE)

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
        return self.model_dump(exclude_none=True)


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


def validate_event(attributes: dict[str, Any], prefix: str = "") -> CloudEvent:
    """Validate a structured-mode event; InvalidEventError names the field."""
    try:
        event = CloudEvent.model_validate(attributes)
    except ValidationError as error:
        raise InvalidEventError(problems_from(error, prefix)) from None
    problems = _extension_problems(event, prefix)
    if event.data is not None and event.data_base64 is not None:
        problems.append(
            FieldProblem(_join(prefix, "data"), "data and data_base64 exclude each other")
        )
    if problems:
        raise InvalidEventError(problems)
    return event


def _extension_problems(event: CloudEvent, prefix: str) -> list[FieldProblem]:
    problems = []
    for name, value in (event.model_extra or {}).items():
        if not _EXTENSION_NAME.fullmatch(name):
            problems.append(
                FieldProblem(
                    _join(prefix, name),
                    "not a CloudEvents attribute; extension names are 1-20 lower-case "
                    "letters or digits",
                )
            )
        elif isinstance(value, str) and (
            "\x00" in value or len(value.encode()) > _MAX_EXTENSION_BYTES
        ):
            problems.append(
                FieldProblem(
                    _join(prefix, name),
                    f"extension strings must be at most {_MAX_EXTENSION_BYTES} bytes, without NUL",
                )
            )
        elif isinstance(value, float) or not isinstance(value, str | int | bool):
            problems.append(
                FieldProblem(
                    _join(prefix, name), "extensions must be strings, integers or booleans"
                )
            )
    return problems


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name
