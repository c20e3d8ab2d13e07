"""Which archived events a replay takes, and the record it produces for each. No I/O.

A replay names a half-open time range [--from, --to) and, optionally, a shell
pattern of event types (``TEMP``, ``com.example.*``). Objects are chosen by
their key (type and hour, eventcore/archive_layout.py), then each event by
its own ``time``. The record produced is the one publish produced: the event
through the Kafka binding, without the coordinates it was archived with, so
it keeps its ``id`` and ``source`` and persist and alert take it once.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote

from eventcore.archive_layout import Placement, date_folder, days
from eventcore.cloudevent import CloudEvent, parse_time, validate_event
from eventcore.errors import InvalidEventError
from eventcore.kafka_binding import COORDINATES, KafkaRecord, to_record

_HOUR = timedelta(hours=1)


@dataclass(frozen=True)
class Selection:
    """What the operator asked for: a time range and, maybe, a type pattern."""

    start: datetime
    end: datetime
    type_pattern: str | None = None

    def wants_type(self, event_type: str) -> bool:
        return self.type_pattern is None or fnmatch.fnmatchcase(event_type, self.type_pattern)

    def wants_object(self, placement: Placement) -> bool:
        """An object whose hour meets the range (events without a time never do)."""
        hour = placement.hour
        return (
            hour is not None
            and self.wants_type(placement.type)
            and hour < self.end
            and hour + _HOUR > self.start
        )

    def wants(self, event: CloudEvent) -> bool:
        if event.time is None or not self.wants_type(event.type):
            return False
        return self.start <= parse_time(event.time) < self.end


def type_of_folder(folder: str, prefix: str) -> str | None:
    """The event type of a ``<prefix>type=<escaped>/`` folder; None for another folder."""
    name = folder[len(prefix) :].rstrip("/")
    if not folder.startswith(prefix) or not name.startswith("type="):
        return None
    return unquote(name[len("type=") :])


def date_folders(type_folder: str, selection: Selection) -> list[str]:
    """The ``.../date=YYYY-MM-DD/`` folders under one type's folder that the range meets."""
    return [type_folder + date_folder(day) for day in days(selection.start, selection.end)]


def events_of(documents: Iterable[dict[str, Any]]) -> tuple[list[CloudEvent], int]:
    """The archived events, and how many lines were no valid event."""
    events, invalid = [], 0
    for document in documents:
        try:
            events.append(validate_event(document))
        except InvalidEventError:
            invalid += 1
    return events, invalid


def replay_order(event: CloudEvent) -> tuple[str, int, int]:
    """Where the event was on Kafka: replaying in this order keeps each partition's order."""
    extensions = event.extension_attributes
    return (
        str(extensions.get("kafkatopic", "")),
        int(extensions.get("kafkapartition", 0)),
        int(extensions.get("kafkaoffset", 0)),
    )


def replay_record(event: CloudEvent) -> KafkaRecord:
    """The record publish made of the event: same id, source, key, headers and value."""
    kept = {k: v for k, v in event.extension_attributes.items() if k not in COORDINATES}
    return to_record(event._replace(extension_attributes=kept))
