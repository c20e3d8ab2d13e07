"""The handler persist and alert share: read the delivery, do the work, answer."""

from __future__ import annotations

import io
from collections.abc import Callable
from typing import Any

from fdk import response

from eventcore.batch import BatchResult, parse_delivery
from eventcore.cloudevent import CloudEvent
from eventcore.errors import EventError
from eventio.responses import batch_response, error_response, request_body, request_headers

# A function's own part: the acceptable events in, its failures and counts out.
Work = Callable[[list[CloudEvent]], BatchResult]


def handle(ctx: Any, data: io.BytesIO | None, work: Work) -> response.Response:
    """Parse what the bridge (or a KafkaSource) sent, hand the acceptable events
    to ``work`` and answer with every failure, the unreadable events' and the
    work's own. A dependency that fails raises out of ``work``: the whole batch
    failed (the fdk answers 502) and the bridge retries it."""
    try:
        parsed = parse_delivery(request_body(data), request_headers(ctx))
    except EventError as error:
        return error_response(ctx, error)
    done = work(parsed.events)
    result = BatchResult((*parsed.failures, *done.failures), done.counts)
    return batch_response(ctx, result, single=parsed.single)
