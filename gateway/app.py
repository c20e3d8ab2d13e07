"""The gateway's HTTP API: Fn's invoke and trigger endpoints and API v2, the OCI
Functions API, /publish, health and metrics."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from gateway import calls, fnapi, single
from gateway.access import CREDENTIAL_HEADERS, Access, ApiKey, parse_keys
from gateway.errors import GatewayError, MethodNotAllowedError, PathNotFoundError
from gateway.oci import api as ociapi
from gateway.oci.keys import load_keys
from gateway.oci.shapes import error_json
from gateway.registry import DeclaredApp, load_app
from gateway.runtime import Runtime
from gateway.schedule import Pings
from gateway.settings import GatewaySettings

_ANY = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Open whatever the keys: health, and what the fn CLI asks before anything else.
_OPEN_API_PATHS = frozenset({"/", "/version"})

Endpoint = Callable[[Request], Awaitable[Response]]


def create_app(
    settings: GatewaySettings | None = None, declared: DeclaredApp | None = None
) -> Starlette:
    """The gateway for ``declared`` (default: the repository's app.yaml and functions)."""
    settings = settings or GatewaySettings.from_env()
    runtime = Runtime(single.only(declared or load_app(settings.root), settings), settings)
    keys = load_keys(settings.oci_keys) if settings.oci_keys else None
    access = load_access(settings.api_keys) if settings.api_keys else None
    # With keys in force, the caller's key never reaches a function.
    withheld = CREDENTIAL_HEADERS if access else frozenset()

    def guard(request: Request, scope: str) -> ApiKey | None:
        return access.check(request.headers, scope) if access else None

    def guarded(endpoint: Endpoint, scope: str) -> Endpoint:
        async def checked(request: Request) -> Response:
            guard(request, scope)
            return await endpoint(request)

        return checked

    pings = Pings(runtime)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        await runtime.start()
        pings.start()
        try:
            yield
        finally:
            await pings.stop()
            await runtime.stop()

    async def invoke(request: Request) -> Response:
        key = guard(request, "invoke")  # 401 before anything is revealed
        fn_id = request.path_params["fn_id"]
        fn = runtime.function(fn_id)  # Fn's 404 comes before the body is read
        if key is not None:
            Access.check_app(key, fn.app_name)
        body = await read_body(request)
        return await calls.invoke(runtime, request, fn_id, body, withheld=withheld)

    async def trigger(request: Request) -> Response:
        key = guard(request, "triggers")
        app_name = request.path_params["app_name"]
        if key is not None:
            Access.check_app(key, app_name)
        source = "/" + request.path_params.get("source", "")
        return await _run_trigger(request, app_name, source)

    async def publish(request: Request) -> Response:
        # The original system's clients POST to /publish: the publish
        # function's HTTP trigger, at the path they already use.
        key = guard(request, "publish")
        if key is not None:
            Access.check_app(key, runtime.declared.name)
        return await _run_trigger(request, runtime.declared.name, "/publish")

    async def read_body(request: Request) -> bytes:
        return await calls.read_body(request, settings.max_body_bytes, settings.read_timeout_s)

    async def _run_trigger(request: Request, app_name: str, source: str) -> Response:
        fn = runtime.function(runtime.catalog.http_trigger(app_name, source).fn_id)
        return await calls.trigger(runtime, request, fn, withheld=withheld)

    async def livez(_: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def readyz(_: Request) -> Response:
        functions = {
            pool.fn.name: {"ready": pool.ready, "min": pool.min_instances}
            for pool in runtime.pools.values()
            if pool.fn.app_name == runtime.declared.name
        }
        ready = runtime.ready
        return JSONResponse(
            {"status": "ready" if ready else "starting", "functions": functions},
            status_code=200 if ready else 503,
        )

    async def scaling(request: Request) -> Response:
        # Every pool and its autoscaler, as /metrics has them, in one document.
        guard(request, "metrics")
        pools = sorted(runtime.pools.values(), key=lambda p: (p.fn.app_name, p.fn.name))
        return JSONResponse({"functions": [pool.status() for pool in pools]})

    async def metrics(request: Request) -> Response:
        guard(request, "metrics")
        return Response(generate_latest(runtime.metrics.registry), media_type=CONTENT_TYPE_LATEST)

    async def gateway_error(request: Request, error: Exception) -> Response:
        assert isinstance(error, GatewayError)
        headers = dict(error.headers)
        if call_id := getattr(request.state, "call_id", None):
            headers["Fn-Call-Id"] = call_id
        if error.status == 444:
            return Response(status_code=444)  # the client is gone; Fn sends nothing
        if ociapi.is_oci(request):
            headers["opc-request-id"] = ociapi.request_id(request)
            return JSONResponse(error_json(error.status, error.message), error.status, headers)
        document = {"message": error.message}
        if error.fields:
            document["fields"] = error.fields
        return JSONResponse(document, error.status, headers)

    async def http_error(request: Request, error: Exception) -> Response:
        # Routing's own 404 and 405, in Fn's words: "Path not found: GET /x".
        assert isinstance(error, HTTPException)
        kind: type[GatewayError] = (
            MethodNotAllowedError if error.status_code == 405 else PathNotFoundError
        )
        message = f"{kind.message}: {request.method} {request.url.path}"
        if error.status_code not in (404, 405):
            message = error.detail
        failure = kind(message, headers=dict(error.headers or {}))
        failure.status = error.status_code
        return await gateway_error(request, failure)

    async def unexpected(request: Request, error: Exception) -> Response:
        # A bug, not bad input: still JSON in the API's own shape (the
        # traceback goes to the log, raised again by Starlette after this).
        return await gateway_error(request, GatewayError())

    starlette = Starlette(
        routes=[
            Route("/invoke/{fn_id}", invoke, methods=["POST"]),
            Route("/t/{app_name}", trigger, methods=_ANY),
            Route("/t/{app_name}/{source:path}", trigger, methods=_ANY),
            Route("/publish", publish, methods=_ANY),
            *_guard_api(fnapi.routes(runtime), guarded),
            *ociapi.routes(runtime, keys),
            Route("/livez", livez, methods=["GET"]),
            Route("/readyz", readyz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
            Route("/scaling", scaling, methods=["GET"]),
        ],
        exception_handlers={
            GatewayError: gateway_error,
            HTTPException: http_error,
            Exception: unexpected,
        },
        lifespan=lifespan,
    )
    # Fn answers a path with a trailing slash with 404, not a redirect.
    starlette.router.redirect_slashes = False
    if settings.function:
        # Knative's runtime contract: the one function at every path (gateway/single.py).
        starlette.router.routes = single.routes(starlette.router.routes, runtime, access, withheld)
    starlette.state.runtime = runtime
    return starlette


def load_access(path: Path) -> Access:
    """The API keys file (read once, at start); a bad file stops the gateway."""
    return parse_keys(path.read_text(), str(path))


def _guard_api(
    routes: list[BaseRoute], guarded: Callable[[Endpoint, str], Endpoint]
) -> list[BaseRoute]:
    """The Fn API's routes, each needing the ``manage`` scope (but / and /version)."""
    result: list[BaseRoute] = []
    for route in routes:
        if isinstance(route, Route) and route.path not in _OPEN_API_PATHS:
            route = Route(route.path, guarded(route.endpoint, "manage"), methods=route.methods)
        result.append(route)
    return result
