"""persist: write a batch of events to PostgreSQL, once per (source, id)."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from fdk import response

from eventcore.batch import BatchResult
from eventcore.cloudevent import CloudEvent
from eventio import batch_handler
from eventio.database import Database, EventStore
from eventio.memory import keep_freed_memory
from eventio.settings import FunctionSettings


@cache
def store() -> EventStore:
    """Made on the first call, kept for the life of the process."""
    keep_freed_memory()
    settings = FunctionSettings.from_env()
    return EventStore(Database(settings.database_url, "eventfn-persist"))


def write(events: list[CloudEvent]) -> BatchResult:
    """Store the events; those PostgreSQL refused are the failures."""
    inserted, refused = store().write(events)
    written = len(events) - len(refused)
    return BatchResult(tuple(refused), {"inserted": inserted, "duplicates": written - inserted})


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    return batch_handler.handle(ctx, data, write)
