"""persist: write a batch of events to PostgreSQL, once per (source, id)."""

from __future__ import annotations

import io
from functools import cache
from typing import Any

from fdk import response

from eventcore.batch import BatchResult, parse_delivery
from eventcore.errors import EventError
from eventio import responses
from eventio.database import Database, EventStore
from eventio.settings import FunctionSettings


@cache
def store() -> EventStore:
    """Made on the first call, kept for the life of the process."""
    settings = FunctionSettings.from_env()
    return EventStore(Database(settings.database_url, "eventfn-persist"))


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    try:
        parsed = parse_delivery(responses.request_body(data), responses.request_headers(ctx))
    except EventError as error:
        return responses.error_response(ctx, error)
    # PostgreSQL being unreachable raises: the whole batch failed (502), and
    # the bridge retries it.
    inserted, refused = store().write(parsed.events)
    written = len(parsed.events) - len(refused)
    counts = {"inserted": inserted, "duplicates": written - inserted}
    result = BatchResult((*parsed.failures, *refused), counts)
    return responses.batch_response(ctx, result, single=parsed.single)
