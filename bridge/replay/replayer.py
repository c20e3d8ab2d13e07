"""Listing the archive's objects for a range, reading them hour by hour and
producing the selected events back into the events topic."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.replay.errors import ReplayError
from bridge.replay.selection import (
    Selection,
    date_folders,
    events_of,
    replay_order,
    replay_record,
    type_of_folder,
)
from bridge.replay.settings import ReplaySettings
from eventcore import archive_codec
from eventcore.archive_layout import Placement, parse_key
from eventcore.cloudevent import CloudEvent
from eventio.errors import DeliveryError, DependencyError
from eventio.object_store import ObjectStore
from eventio.producer import EventProducer

# Records handed to Kafka, and acknowledged, at a time.
_BATCH = 500
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Options:
    """What the operator asked for on the command line."""

    selection: Selection
    dry_run: bool = False
    limit: int | None = None


@dataclass(frozen=True)
class ArchivedObject:
    key: str
    size: int
    placement: Placement


@dataclass
class Tally:
    """How many objects and events came to each end; ``replayed`` only once acknowledged."""

    objects: int = 0
    events: int = 0
    selected: int = 0
    replayed: int = 0
    outside: int = 0
    invalid: int = 0


class Replayer:
    """One run of the replay: ``plan`` lists, ``run`` reads and produces, then
    ``tally`` says what happened, also after a ReplayError."""

    def __init__(
        self,
        settings: ReplaySettings,
        options: Options,
        store: ObjectStore | None = None,
        producer: EventProducer | None = None,
    ) -> None:
        self.settings = settings
        self.options = options
        self.tally = Tally()
        try:
            self.store = store or ObjectStore(settings)
        except DependencyError as error:
            raise ReplayError(str(error)) from None
        self._producer = producer
        if producer is None and not options.dry_run:
            self._producer = EventProducer(
                settings.bootstrap_servers, "eventfn-replay", settings.timeout_s
            )

    @property
    def where(self) -> str:
        return f"{self.store.where}/{self.settings.archive_prefix}"

    def plan(self) -> list[ArchivedObject]:
        """The objects whose type and hour meet the selection, in key order."""
        prefix, selection = self.settings.archive_prefix, self.options.selection
        found = []
        try:
            for folder in self.store.folders(prefix):
                event_type = type_of_folder(folder, prefix)
                if event_type is None or not selection.wants_type(event_type):
                    continue
                for day in date_folders(folder, selection):
                    for key, size in self.store.keys(day):
                        placement = parse_key(key, prefix)
                        if placement is not None and selection.wants_object(placement):
                            found.append(ArchivedObject(key, size, placement))
        except DependencyError as error:
            raise ReplayError(str(error)) from None
        return found

    def run(
        self, objects: Sequence[ArchivedObject], done: Callable[[ArchivedObject], None]
    ) -> Tally:
        """Hour by hour, each hour's events in their Kafka order (each partition's
        order kept across the types' objects), up to the limit."""
        try:
            for _, hour in itertools.groupby(_by_hour(objects), lambda o: o.placement.hour):
                events = sorted(self._read(list(hour), done), key=replay_order)
                if not self._produce(events):
                    break
        finally:
            if self._producer is not None:
                self._producer.close()
        return self.tally

    def _read(
        self, objects: list[ArchivedObject], done: Callable[[ArchivedObject], None]
    ) -> Iterator[CloudEvent]:
        selection = self.options.selection
        for item in objects:
            try:
                stored = self.store.get(item.key)
                documents = archive_codec.decode(stored.body) if stored else []
            except (DependencyError, archive_codec.ArchiveObjectError) as error:
                raise ReplayError(f"{self.where}: {item.key}: {error}") from None
            events, invalid = events_of(documents)
            self.tally.objects += 1
            self.tally.events += len(events) + invalid
            self.tally.invalid += invalid
            for event in events:
                if selection.wants(event):
                    yield event
                else:
                    self.tally.outside += 1
            done(item)

    def _produce(self, events: list[CloudEvent]) -> bool:
        """Replay the events (or count them, in a dry run); False once the limit is reached."""
        limit = self.options.limit
        if limit is not None:
            events = events[: max(0, limit - self.tally.selected)]
        for start in range(0, len(events), _BATCH):
            chunk = events[start : start + _BATCH]
            self.tally.selected += len(chunk)
            if self._producer is None:
                continue
            try:
                self._producer.send(
                    self.settings.events_topic, [replay_record(event) for event in chunk]
                )
            except DeliveryError as error:
                acknowledged, _ = error.split([event.id for event in chunk])
                self.tally.replayed += len(acknowledged)
                raise ReplayError(
                    f"{self.settings.events_topic} at {self.settings.bootstrap_servers}: "
                    f"{error}; replaying again is safe (the same ids are taken once)"
                ) from None
            self.tally.replayed += len(chunk)
        return limit is None or self.tally.selected < limit


def _by_hour(objects: Sequence[ArchivedObject]) -> list[ArchivedObject]:
    return sorted(objects, key=lambda o: (o.placement.hour or _EPOCH, o.key))
