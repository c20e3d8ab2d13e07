"""The gateway's HTTP API: Fn's invoke and trigger endpoints, /publish, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from eventcore.cloudevent import format_time
from gateway import headers as fnheaders
from gateway.errors import ClientClosedError, GatewayError, RequestTooLargeError
from gateway.ids import new_id
from gateway.registry import App, Function, load_app
from gateway.runtime import Runtime
from gateway.settings import GatewaySettings

_ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


def create_app(settings: GatewaySettings | None = None, app: App | None = None) -> Starlette:
    """The gateway for ``app`` (default: the repository's app.yaml and functions)."""
    settings = settings or GatewaySettings.from_env()
    runtime = Runtime(app or load_app(settings.root), settings)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        try:
            yield
        finally:
            await runtime.stop()

    async def invoke(request: Request) -> Response:
        fn = runtime.app.function(request.path_params["fn_id"])
        call_id = _call_id(request)
        body = await _read_body(request, settings.max_body_bytes)
        forwarded = fnheaders.invoke_request(request.headers.items()) + _call_headers(fn, call_id)
        if request.headers.get("fn-invoke-type", "").lower() == "detached":
            runtime.call_detached(fn, forwarded, body)
            return _response(202, [("Fn-Call-Id", call_id)], b"")
        result = await runtime.call(fn, forwarded, body)
        answer = [*fnheaders.invoke_response(result.headers), ("Fn-Call-Id", call_id)]
        return _response(200, answer, result.body)

    async def trigger(request: Request) -> Response:
        source = "/" + request.path_params.get("source", "")
        return await _run_trigger(request, request.path_params["app_name"], source)

    async def publish(request: Request) -> Response:
        # The original system's clients POST to /publish: the publish
        # function's HTTP trigger, at the path they already use.
        return await _run_trigger(request, runtime.app.name, "/publish")

    async def _run_trigger(request: Request, app_name: str, source: str) -> Response:
        fn, _ = runtime.app.trigger(app_name, source)
        call_id = _call_id(request)
        body = await _read_body(request, settings.max_body_bytes)
        forwarded = fnheaders.trigger_request(
            request.headers.items(), request.method, str(request.url)
        ) + _call_headers(fn, call_id)
        result = await runtime.call(fn, forwarded, body)
        status, answer = fnheaders.trigger_response(result.headers)
        return _response(status, [*answer, ("Fn-Call-Id", call_id)], result.body)

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        functions = {
            pool.fn.name: {"ready": pool.ready, "min": pool.min_instances}
            for pool in runtime.pools.values()
        }
        ready = bool(runtime.pools) and runtime.ready
        return JSONResponse(
            {"status": "ready" if ready else "starting", "functions": functions},
            status_code=200 if ready else 503,
        )

    async def metrics(_: Request) -> Response:
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def gateway_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, GatewayError)
        headers = dict(error.headers)
        if call_id := getattr(request.state, "call_id", None):
            headers["Fn-Call-Id"] = call_id
        return JSONResponse({"message": error.message}, error.status, headers)

    async def http_error(_: Request, error: Exception) -> Response:
        assert isinstance(error, HTTPException)
        return JSONResponse({"message": error.detail}, error.status_code, error.headers)

    starlette = Starlette(
        routes=[
            Route("/invoke/{fn_id}", invoke, methods=["POST"]),
            Route("/t/{app_name}", trigger, methods=_ANY),
            Route("/t/{app_name}/{source:path}", trigger, methods=_ANY),
            Route("/publish", publish, methods=_ANY),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ],
        exception_handlers={GatewayError: gateway_error, HTTPException: http_error},
        lifespan=lifespan,
    )
    starlette.state.runtime = runtime
    return starlette


def _call_id(request: Request) -> str:
    call_id = new_id()
    request.state.call_id = call_id
    return call_id


def _call_headers(fn: Function, call_id: str) -> list[tuple[str, str]]:
    deadline = datetime.now(UTC) + timedelta(seconds=fn.timeout)
    return [("Fn-Call-Id", call_id), ("Fn-Deadline", format_time(deadline))]


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to be over the limit
    (from Content-Length before reading a byte, else while streaming)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeError()
    chunks = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestTooLargeError()
            chunks.append(chunk)
    except ClientDisconnect:
        raise ClientClosedError() from None
    return b"".join(chunks)


def _response(status: int, headers: list[tuple[str, str]], body: bytes) -> Response:
    # Response(headers=...) takes a mapping; a function may repeat a header.
    if status in (204, 304):
        body = b""  # these statuses carry no body, whatever the function said
    response = Response(content=body, status_code=status)
    response.raw_headers.extend(
        (name.lower().encode("latin-1"), value.encode("latin-1")) for name, value in headers
    )
    return response
