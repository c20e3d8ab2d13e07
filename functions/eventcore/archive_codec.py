"""An archive object's bytes: newline-delimited structured CloudEvents, gzipped.

Each line is one event in the CloudEvents JSON format (structured mode), with
its Kafka coordinates as the extensions ``kafkatopic``, ``kafkapartition``
and ``kafkaoffset``, in offset order; any JSON Lines reader (``zcat | jq``,
Spark, DuckDB, Athena) reads an object as it is. gzip, from the standard
library, with no file time in its header, so that the same events make the
same bytes (and the same ETag). zstd was not taken: nothing measured here
says it pays for a dependency.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable
from typing import Any, NamedTuple

import orjson

from eventcore.cloudevent import CloudEvent
from eventcore.errors import EventError

CONTENT_TYPE = "application/x-ndjson"
CONTENT_ENCODING = "gzip"
_LEVEL = 6


class ArchiveObjectError(EventError):
    """Bytes that are not an archive object; says which line and why."""


def encode(lines: Iterable[bytes]) -> bytes:
    """An object of JSON lines (each without its newline)."""
    return gzip.compress(b"".join(line + b"\n" for line in lines), _LEVEL, mtime=0)


def event_line(event: CloudEvent) -> bytes:
    """One event's line; its coordinates as numbers, however they were sent."""
    document = event.structured()
    for name in ("kafkapartition", "kafkaoffset"):
        document[name] = int(document[name])
    return orjson.dumps(document)


def decode(body: bytes) -> list[dict[str, Any]]:
    """The events of an object, as structured-mode attribute dicts."""
    return [document for document, _ in _documents(body)]


class Merged(NamedTuple):
    """An object's new bytes (None: unchanged), the events added and those it holds."""

    body: bytes | None
    added: int
    total: int


def merge(existing: bytes | None, events: Iterable[CloudEvent]) -> Merged:
    """The object with ``events`` added to what it held, one line per Kafka
    offset (the events of an object all come from one partition); no new
    bytes when every one was there already (a redelivery)."""
    by_offset: dict[int, bytes] = {}
    if existing is not None:
        for document, line in _documents(existing):
            offset = document.get("kafkaoffset")
            if not isinstance(offset, int):
                raise ArchiveObjectError(f"an event without a kafkaoffset: {line[:120]!r}")
            by_offset[offset] = line
    added = 0
    for event in events:
        offset = int(event.extension_attributes["kafkaoffset"])
        if offset not in by_offset:
            by_offset[offset] = event_line(event)
            added += 1
    if not added:
        return Merged(None, 0, len(by_offset))
    body = encode(by_offset[offset] for offset in sorted(by_offset))
    return Merged(body, added, len(by_offset))


def _documents(body: bytes) -> list[tuple[dict[str, Any], bytes]]:
    """Each line's event and the line itself."""
    found = []
    for number, line in enumerate(_lines(body), start=1):
        try:
            document = orjson.loads(line)
        except orjson.JSONDecodeError as error:
            raise ArchiveObjectError(f"line {number} is not JSON ({error})") from None
        if not isinstance(document, dict):
            raise ArchiveObjectError(f"line {number} is not a JSON object")
        found.append((document, line))
    return found


def _lines(body: bytes) -> list[bytes]:
    try:
        text = gzip.decompress(body)
    except (OSError, EOFError, zlib.error) as error:
        raise ArchiveObjectError(f"not gzip ({error})") from None
    return [line for line in text.split(b"\n") if line.strip()]
