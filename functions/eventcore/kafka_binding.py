"""CloudEvents on Kafka: the Kafka protocol binding, binary mode.

Attributes travel as ``ce_<name>`` headers, ``datacontenttype`` as the
``content-type`` header, the data as the record value and ``partitionkey`` as
the record key, so a Knative KafkaSource or any Kafka client reads our events.
Reading back adds the record's coordinates as the extensions ``kafkatopic``,
``kafkapartition`` and ``kafkaoffset``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, NamedTuple

import orjson

from eventcore.cloudevent import (
    PARTITION_KEY,
    SPECVERSION,
    STRUCTURED,
    CloudEvent,
    data_attributes,
    format_time,
    media_type,
)

HEADER_PREFIX = "ce_"
_PREFIX_LENGTH = len(HEADER_PREFIX)
CONTENT_TYPE = "content-type"
COORDINATES = ("kafkatopic", "kafkapartition", "kafkaoffset")
# What a record that is no CloudEvent becomes, as Knative's KafkaSource names it.
FOREIGN_TYPE = "dev.knative.kafka.event"

Headers = Sequence[tuple[str, bytes | str | None]]
_SPECVERSION_HEADER = (HEADER_PREFIX + "specversion", SPECVERSION.encode())


class KafkaRecord(NamedTuple):
    """What to produce: key, value and headers (a named tuple: one per event)."""

    key: bytes | None
    value: bytes | None
    headers: list[tuple[str, bytes]]


def to_record(event: CloudEvent) -> KafkaRecord:
    """The binary-mode Kafka record of an event.

    Headers in the order of :meth:`CloudEvent.structured`, built straight from
    the attributes: publish makes one record per event.
    """
    headers = [
        _SPECVERSION_HEADER,
        ("ce_id", event.id.encode()),
        ("ce_source", event.source.encode()),
        ("ce_type", event.type.encode()),
    ]
    if event.datacontenttype is not None:
        headers.append((CONTENT_TYPE, event.datacontenttype.encode()))
    if event.dataschema is not None:
        headers.append(("ce_dataschema", event.dataschema.encode()))
    if event.subject is not None:
        headers.append(("ce_subject", event.subject.encode()))
    if event.time is not None:
        headers.append(("ce_time", event.time.encode()))
    key: bytes | None = None
    for name, value in event.extension_attributes.items():
        if name == PARTITION_KEY:
            key = str(value).encode()
        else:
            headers.append((HEADER_PREFIX + name, _header_text(value).encode()))
    return KafkaRecord(key=key, value=event.data_bytes(), headers=headers)


def from_record(
    topic: str,
    partition: int,
    offset: int,
    key: bytes | None,
    value: bytes | None,
    headers: Headers | None,
    timestamp_ms: int | None = None,
) -> dict[str, Any]:
    """A record as a structured-mode event (attributes dict) with its coordinates.

    The result is not validated: the function that receives it decides whether
    it is an acceptable event, and says so in its batch result.
    """
    # One pass over the headers: the ce_* attributes and the content type.
    attributes: dict[str, Any] = {}
    content_type: str | None = None
    for name, raw in headers or ():
        lowered = name.lower()
        if lowered.startswith(HEADER_PREFIX):
            attributes[lowered[_PREFIX_LENGTH:]] = (
                raw.decode(errors="replace") if isinstance(raw, bytes) else _text(raw)
            )
        elif lowered == CONTENT_TYPE:
            content_type = _text(raw)
    if "specversion" in attributes:
        if content_type:
            attributes["datacontenttype"] = content_type
        if value:
            attributes.update(data_attributes(value, content_type))
    elif content_type and media_type(content_type) == STRUCTURED:
        attributes = _structured(value) or _foreign(topic, partition, offset, value, timestamp_ms)
    else:
        attributes = _foreign(topic, partition, offset, value, timestamp_ms)
    if key is not None and PARTITION_KEY not in attributes:
        attributes[PARTITION_KEY] = key.decode(errors="replace")
    attributes["kafkatopic"] = topic
    attributes["kafkapartition"] = partition
    attributes["kafkaoffset"] = offset
    return attributes


def _structured(value: bytes | None) -> dict[str, Any] | None:
    try:
        document = orjson.loads(value or b"")
    except orjson.JSONDecodeError:
        return None
    return document if isinstance(document, dict) else None


def _foreign(
    topic: str, partition: int, offset: int, value: bytes | None, timestamp_ms: int | None
) -> dict[str, Any]:
    # A record some other producer wrote (kcat, a plain Kafka client). It gets
    # an id from its coordinates, so redelivery keeps its identity; an object
    # with a string "type" is the original system's event and keeps its type.
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": f"partition:{partition}/offset:{offset}",
        "source": f"/eventfn/kafka/{topic}",
        "type": FOREIGN_TYPE,
    }
    if timestamp_ms is not None and timestamp_ms > 0:
        # Any producer may set a record's time; one past year 9999 has no
        # datetime, and the record simply carries no time then.
        with contextlib.suppress(ValueError, OverflowError, OSError):
            attributes["time"] = format_time(datetime.fromtimestamp(timestamp_ms / 1000, UTC))
    if value:
        data = data_attributes(value, None)
        document = data.get("data")
        if isinstance(document, dict) and isinstance(document.get("type"), str):
            attributes["type"] = document["type"]
            attributes["datacontenttype"] = "application/json"
        attributes.update(data)
    return attributes


def _header_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _text(raw: bytes | str | None) -> str:
    if raw is None:
        return ""
    return raw if isinstance(raw, str) else raw.decode(errors="replace")
