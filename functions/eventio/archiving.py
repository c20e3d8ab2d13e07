"""The archive stage: a batch's events into the objects they belong in.

Each event's object is fixed by eventcore/archive_layout.py; for each object
a batch touches, the stage reads what the object holds, adds the batch's
events that are not in it yet (eventcore/archive_codec.py) and PUTs the whole
object back, on the condition that nobody changed it in between: a conflict
means reading and merging again. So a redelivered batch, however it is cut,
rewrites the same objects with the same events, and an object is a whole set
of events or its previous self, never a part.
"""

from __future__ import annotations

from collections.abc import Sequence

from eventcore import archive_codec, archive_layout
from eventcore.batch import BatchResult
from eventcore.cloudevent import CloudEvent
from eventio.errors import DependencyError
from eventio.object_store import ObjectStore, WriteConflictError

# How often one object is merged again after a conflicting write.
_ATTEMPTS = 4


class Archiver:
    """Writes batches into one bucket, under ``prefix``."""

    def __init__(self, store: ObjectStore, prefix: str, block_size: int) -> None:
        self.store = store
        self.prefix = prefix
        self.block_size = block_size

    def write(self, events: Sequence[CloudEvent]) -> BatchResult:
        """Archive the events; those without Kafka coordinates are the failures.
        The bucket failing raises (DependencyError): the whole batch failed."""
        objects, failures = archive_layout.group(events, self.block_size)
        added = written = 0
        # in key order: the same batch writes its objects in the same order
        for key, placement in sorted((p.key(self.prefix), p) for p in objects):
            new = self._merge(key, objects[placement])
            added += new
            written += bool(new)
        archived = len(events) - len(failures)
        counts = {"archived": archived, "duplicates": archived - added, "objects": written}
        return BatchResult(tuple(failures), counts)

    def _merge(self, key: str, events: list[CloudEvent]) -> int:
        """Add the events to the object at ``key``; how many it did not hold."""
        for _ in range(_ATTEMPTS):
            current = self.store.get(key)
            try:
                merged = archive_codec.merge(current.body if current else None, events)
            except archive_codec.ArchiveObjectError as error:
                # Not ours to repair: the batch waits (and is retried) until it is.
                raise DependencyError(f"{self.store.where}: {key} is unreadable: {error}") from None
            if merged.body is None:
                return 0
            try:
                self.store.put(
                    key,
                    merged.body,
                    replacing=current.etag if current else None,
                    content_type=archive_codec.CONTENT_TYPE,
                    content_encoding=archive_codec.CONTENT_ENCODING,
                    metadata={"events": str(merged.total)},
                )
            except WriteConflictError:
                continue
            return merged.added
        raise DependencyError(f"{self.store.where}: {key} kept changing while it was merged")
