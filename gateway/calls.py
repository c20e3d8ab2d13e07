"""Running a function for an HTTP request: what /invoke, the HTTP triggers and
the OCI invoke action share (body limits, call IDs, deadlines, detached calls)."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response

from eventcore.cloudevent import format_time
from gateway import headers as fnheaders
from gateway.errors import ClientClosedError, RequestTimeoutError, RequestTooLargeError
from gateway.ids import new_id
from gateway.registry import Function
from gateway.runtime import Runtime


async def invoke(
    runtime: Runtime,
    request: Request,
    fn_id: str,
    body: bytes,
    extra: Sequence[tuple[str, str]] = (),
    withheld: frozenset[str] = frozenset(),
) -> Response:
    """Fn's invoke: 200 with the function's headers and body, or 202 at once
    for ``Fn-Invoke-Type: detached``; ``Fn-Call-Id`` (and ``extra``) on both.
    Headers named in ``withheld`` (lower-case) do not reach the function."""
    fn = runtime.function(fn_id)
    call_id = call_id_for(request)
    passed = [(k, v) for k, v in request.headers.items() if k.lower() not in withheld]
    forwarded = fnheaders.invoke_request(passed) + call_headers(fn, call_id)
    answer = [("Fn-Call-Id", call_id), *extra]
    if request.headers.get("fn-invoke-type", "").lower() == "detached":
        runtime.call_detached(fn, forwarded, body)
        return response(202, answer, b"")
    result = await runtime.call(fn, forwarded, body)
    return response(200, [*fnheaders.invoke_response(result.headers), *answer], result.body)


async def trigger(
    runtime: Runtime, request: Request, fn: Function, withheld: frozenset[str] = frozenset()
) -> Response:
    """Fn's HTTP trigger: the request reaches ``fn`` as ``Fn-Http-*`` headers
    (method, full URL, each client header), and the function's ``Fn-Http-Status``
    and ``Fn-Http-H-*`` headers become the response's status and headers."""
    call_id = call_id_for(request)
    settings = runtime.settings
    body = await read_body(request, settings.max_body_bytes, settings.read_timeout_s)
    passed = [(k, v) for k, v in request.headers.items() if k.lower() not in withheld]
    forwarded = fnheaders.trigger_request(passed, request.method, str(request.url)) + call_headers(
        fn, call_id
    )
    result = await runtime.call(fn, forwarded, body)
    status, answer = fnheaders.trigger_response(result.headers)
    return response(status, [*answer, ("Fn-Call-Id", call_id)], result.body)


def call_id_for(request: Request) -> str:
    """A new call ID, kept on the request so that error responses carry it too."""
    call_id = new_id()
    request.state.call_id = call_id
    return call_id


def call_headers(fn: Function, call_id: str) -> list[tuple[str, str]]:
    deadline = datetime.now(UTC) + timedelta(seconds=fn.timeout)
    return [("Fn-Call-Id", call_id), ("Fn-Deadline", format_time(deadline))]


async def read_body(request: Request, limit: int, timeout_s: float) -> bytes:
    """The body, refused with 413 as soon as it is known to be over the limit
    (from Content-Length before reading a byte, else while streaming), and with
    408 unless all of it arrives within ``timeout_s``."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError()
    chunks = []
    size = 0
    try:
        async with asyncio.timeout(timeout_s):
            async for chunk in request.stream():
                size += len(chunk)
                if size > limit:
                    raise RequestTooLargeError()
                chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedError() from None
    except TimeoutError:
        # Connection: close, so the rest of the trickle is never read.
        raise RequestTimeoutError(
            f"request body not received within {timeout_s:g}s", headers={"Connection": "close"}
        ) from None
    return b"".join(chunks)


def response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    # Response(headers=...) takes a mapping; a function may repeat a header.
    if status in (204, 304):
        body = b""  # these statuses carry no body, whatever the function said
    answer = Response(content=body, status_code=status)
    answer.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
    )
    return answer
