"""CloudEvents over HTTP: the HTTP protocol binding, read in this one place.

Three modes. Binary: each attribute a ``ce-<name>`` header, percent-encoded,
``datacontenttype`` as Content-Type and the data as the body. Structured: one
event as an ``application/cloudevents+json`` object. Batched: a JSON array of
structured events, ``application/cloudevents-batch+json``. Whatever is none of
the three is for the receiver to read by the body's shape (publish's plain
events).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import Enum, auto
from typing import Any
from urllib.parse import quote, unquote

import orjson

from eventcore.cloudevent import BATCH, STRUCTURED, CloudEvent, data_attributes, media_type

HEADER_PREFIX = "ce-"
CONTENT_TYPE = "content-type"
# Present in every binary-mode message, and only in one.
_BINARY_MARK = HEADER_PREFIX + "specversion"
# Printable ASCII but space, '"' and '%' travels as it is in a header value.
_HEADER_SAFE = "".join(chr(c) for c in range(0x21, 0x7F) if chr(c) not in '"%')


class Mode(Enum):
    """How a request carries its events: one of the binding's three modes, or none."""

    BINARY = auto()
    STRUCTURED = auto()
    BATCH = auto()
    OTHER = auto()


@dataclass(frozen=True)
class HttpMessage:
    """An HTTP request's headers (names lower-cased) and body, as CloudEvents read them."""

    headers: Mapping[str, str]
    body: bytes

    @classmethod
    def read(cls, headers: Mapping[str, str], body: bytes) -> HttpMessage:
        return cls({name.lower(): value for name, value in headers.items()}, body)

    @property
    def content_type(self) -> str:
        return self.headers.get(CONTENT_TYPE, "")

    @property
    def media_type(self) -> str:
        return media_type(self.content_type)

    @property
    def mode(self) -> Mode:
        if _BINARY_MARK in self.headers:
            return Mode.BINARY
        return {STRUCTURED: Mode.STRUCTURED, BATCH: Mode.BATCH}.get(self.media_type, Mode.OTHER)

    def binary_event(self, load_json: Callable[[bytes], Any] = orjson.loads) -> dict[str, Any]:
        """A binary-mode message's event as structured attributes (not yet
        validated); ``load_json`` reads JSON data, see :func:`data_attributes`."""
        attributes: dict[str, Any] = {
            name[len(HEADER_PREFIX) :]: unquote(value)
            for name, value in self.headers.items()
            if name.startswith(HEADER_PREFIX)
        }
        if self.content_type:
            attributes["datacontenttype"] = self.content_type
        if self.body:
            attributes.update(data_attributes(self.body, self.content_type, load_json))
        return attributes


def to_binary(event: CloudEvent) -> tuple[dict[str, str], bytes]:
    """An event as a binary-mode request's headers and body."""
    headers = {}
    for name, value in event.structured().items():
        if name in ("data", "data_base64"):
            continue
        if name == "datacontenttype":
            headers[CONTENT_TYPE] = str(value)
        else:
            text = ("true" if value else "false") if isinstance(value, bool) else str(value)
            headers[HEADER_PREFIX + name] = quote(text, safe=_HEADER_SAFE)
    return headers, event.data_bytes() or b""
