"""Where an archived event lives in the bucket: a function of the event alone.

An object's key is::

    [prefix]type=<type>/date=YYYY-MM-DD/hour=HH/<topic>-<partition>-<first>-<last>.ndjson.gz

``type`` URL-escaped (``/``, ``=``, ``%`` and the like as ``%XX``), date and
hour the event's ``time`` in UTC (``date=unknown/hour=unknown`` when it has
none), and ``<first>-<last>`` the block of the partition's offsets the object
covers. Offsets are cut into fixed blocks of ``block_size`` (offsets 0-999,
1000-1999, ... for 1000), as Kafka Connect's S3 sink cuts files at fixed
offsets, so an event's key depends on its type, time and Kafka coordinates,
never on how the bridge cut the batch that brought it: a batch redelivered
after a crash, cut differently, lands in the same objects, and every event is
in exactly one. An object is rewritten whole as its block fills
(eventio/archiving.py); offsets are zero-padded to 10 digits, as Kafka
Connect pads them, so a listing is in offset order.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from urllib.parse import quote, unquote

from eventcore.batch import Failure
from eventcore.cloudevent import CloudEvent, parse_time

SUFFIX = ".ndjson.gz"
UNKNOWN = "unknown"
_PAD = 10


@dataclass(frozen=True)
class Placement:
    """The object an event belongs in."""

    type: str
    # the hour of the event's time (UTC), None when it has no time
    hour: datetime | None
    topic: str
    partition: int
    first: int
    last: int

    def key(self, prefix: str = "") -> str:
        """The object's key in the bucket."""
        if self.hour is None:
            when = f"date={UNKNOWN}/hour={UNKNOWN}"
        else:
            when = f"date={self.hour:%Y-%m-%d}/hour={self.hour:%H}"
        name = f"{self.topic}-{self.partition}-{self.first:0{_PAD}d}-{self.last:0{_PAD}d}"
        return f"{prefix}{type_folder(self.type)}{when}/{name}{SUFFIX}"


def type_folder(event_type: str) -> str:
    """``type=<type>/``, the type escaped so that it is one safe path segment."""
    return f"type={quote(event_type, safe='')}/"


def date_folder(day: date) -> str:
    return f"date={day:%Y-%m-%d}/"


def place(event: CloudEvent, block_size: int) -> Placement | Failure:
    """The object ``event`` belongs in, or why it cannot be archived (never retryable)."""
    extensions = event.extension_attributes
    topic = extensions.get("kafkatopic")
    partition = _count(extensions.get("kafkapartition"))
    offset = _count(extensions.get("kafkaoffset"))
    if not (isinstance(topic, str) and topic and partition is not None and offset is not None):
        return Failure(
            event.id,
            event.source,
            "archive needs the Kafka coordinates of each event (kafkatopic, "
            "kafkapartition, kafkaoffset), as the bridge sends them",
            False,
        )
    hour = None
    if event.time is not None:
        # validated when the event was read: an RFC 3339 time with an offset
        hour = parse_time(event.time).astimezone(UTC).replace(minute=0, second=0, microsecond=0)
    first = offset - offset % block_size
    return Placement(event.type, hour, topic, partition, first, first + block_size - 1)


def group(
    events: Iterable[CloudEvent], block_size: int
) -> tuple[dict[Placement, list[CloudEvent]], list[Failure]]:
    """The events by the object each belongs in, and those that belong in none."""
    objects: dict[Placement, list[CloudEvent]] = {}
    failures: list[Failure] = []
    for event in events:
        placement = place(event, block_size)
        if isinstance(placement, Failure):
            failures.append(placement)
        else:
            objects.setdefault(placement, []).append(event)
    return objects, failures


def parse_key(key: str, prefix: str = "") -> Placement | None:
    """The placement a key names (None for a key that is not an archive object's)."""
    if not key.startswith(prefix) or not key.endswith(SUFFIX):
        return None
    parts = key[len(prefix) : -len(SUFFIX)].split("/")
    if len(parts) != 4:
        return None
    folders = [part.partition("=") for part in parts[:3]]
    if [name for name, _, _ in folders] != ["type", "date", "hour"]:
        return None
    (_, _, escaped), (_, _, day), (_, _, hour) = folders
    # <topic>-<partition>-<first>-<last>, the topic's name may hold dashes itself
    topic, _, last = parts[3].rpartition("-")
    topic, _, first = topic.rpartition("-")
    topic, _, partition = topic.rpartition("-")
    if not (topic and partition.isdigit() and first.isdigit() and last.isdigit()):
        return None
    moment = None
    if (day, hour) != (UNKNOWN, UNKNOWN):
        try:
            moment = datetime.strptime(f"{day} {hour}", "%Y-%m-%d %H").replace(tzinfo=UTC)
        except ValueError:
            return None
    return Placement(unquote(escaped), moment, topic, int(partition), int(first), int(last))


def days(start: datetime, end: datetime) -> list[date]:
    """The UTC dates of the half-open range [start, end)."""
    first = start.astimezone(UTC).date()
    last = (end.astimezone(UTC) - timedelta(microseconds=1)).date()
    return [first + timedelta(days=n) for n in range((last - first).days + 1)]


def _count(value: object) -> int | None:
    """A partition or offset: an integer, or its digits (an extension sent as text)."""
    if isinstance(value, str) and value.isascii() and value.isdigit():
        return int(value)
    if isinstance(value, int) and not isinstance(value, bool) and value >= 0:
        return value
    return None
