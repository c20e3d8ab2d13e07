"""archive: write batches of events to an S3-compatible bucket, each event in one object."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from fdk import response

from eventcore.batch import BatchResult
from eventcore.cloudevent import CloudEvent
from eventio import batch_handler
from eventio.archiving import Archiver
from eventio.memory import keep_freed_memory
from eventio.object_store import ObjectStore
from eventio.settings import FunctionSettings


@cache
def archiver() -> Archiver:
    """Made on the first call, kept for the life of the process. No bucket
    configured raises here: every batch fails whole, and the bridge waits."""
    keep_freed_memory()
    settings = FunctionSettings.from_env()
    return Archiver(ObjectStore(settings), settings.archive_prefix, settings.archive_block_offsets)


def write(events: list[CloudEvent]) -> BatchResult:
    """Archive the events; those without Kafka coordinates are the failures."""
    return archiver().write(events)


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    return batch_handler.handle(ctx, data, write)
