"""fdk responses: request headers in, JSON out, and the one place errors get a status."""

from __future__ import annotations

import io
from collections.abc import Mapping
from typing import Any

import orjson
from fdk import response

from eventcore.batch import BatchResult
from eventcore.errors import (
    EventError,
    InvalidEventError,
    PayloadTooLargeError,
    UnsupportedMediaTypeError,
)
from eventio.errors import DeliveryError, DependencyError

JSON = "application/json"
RETRY_AFTER_S = 1


def request_headers(ctx: Any) -> dict[str, str]:
    """The caller's headers. Through an HTTP trigger the fdk has already
    unwrapped Fn-Http-H-*; a repeated header keeps its last value."""
    headers: Mapping[str, Any] = ctx.Headers() or {}
    return {
        name: (value[-1] if isinstance(value, list) else str(value))
        for name, value in headers.items()
    }


def request_body(data: io.BytesIO | None) -> bytes:
    return b"" if data is None else data.getvalue()


def json_response(
    ctx: Any, status: int, document: Any, headers: Mapping[str, str] | None = None
) -> response.Response:
    """A JSON response. Through a trigger the status reaches the client; on a
    plain invoke the fdk only passes 200, 502 and 504, so the body says it all."""
    return response.Response(
        ctx,
        response_data=orjson.dumps(document),
        headers={"Content-Type": JSON, **(headers or {})},
        status_code=status,
    )


def batch_response(ctx: Any, result: BatchResult, single: bool = False) -> response.Response:
    """200 with the partial-failure result; for a single event (a KafkaSource's
    delivery, which reads only the status) a failure is the status itself: 400
    when a retry cannot help, which Knative dead-letters at once, and 503 with
    Retry-After when it can, which Knative retries."""
    status, headers = 200, {"Content-Type": JSON}
    if single and result.failures:
        retryable = any(failure.retryable for failure in result.failures)
        status = 503 if retryable else 400
        if retryable:
            headers["Retry-After"] = str(RETRY_AFTER_S)
    return response.Response(
        ctx, response_data=result.to_bytes(), headers=headers, status_code=status
    )


def error_response(
    ctx: Any, error: EventError | DependencyError, detail: Mapping[str, Any] | None = None
) -> response.Response:
    """The status and JSON body for an error the caller can act on."""
    status, headers = 400, {}
    document: dict[str, Any] = {"message": str(error), **(detail or {})}
    if isinstance(error, InvalidEventError):
        document["errors"] = [
            {"field": problem.field, "problem": problem.problem} for problem in error.problems[:50]
        ]
    elif isinstance(error, PayloadTooLargeError):
        status = 413
    elif isinstance(error, UnsupportedMediaTypeError):
        status = 415
    elif isinstance(error, DeliveryError | DependencyError):
        status, headers = 503, {"Retry-After": str(RETRY_AFTER_S)}
    return json_response(ctx, status, document, headers)
