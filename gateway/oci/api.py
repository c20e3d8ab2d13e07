"""The OCI Functions API (20181201) the ``oci`` SDK and CLI use: applications and
functions to read, and the invoke action. Every request is checked against the
configured public keys first, so a bad signature learns nothing and runs nothing."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime

import orjson
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import calls
from gateway.errors import BadRequestError
from gateway.ids import new_id
from gateway.oci.shapes import API_VERSIONS, Listing, application_json, function_json
from gateway.oci.signing import SignedRequest, verify
from gateway.runtime import Runtime

log = logging.getLogger("eventfn.gateway")

_CREDENTIALS = frozenset({"authorization"})
PREFIXES = tuple(f"/{version}" for version in API_VERSIONS)


def routes(runtime: Runtime, keys: Mapping[str, RSAPublicKey] | None) -> list[BaseRoute]:
    compartment = runtime.settings.oci_compartment_id
    if keys:
        log.info("OCI API: requests must be signed by one of %d configured keys", len(keys))
    else:
        log.warning("OCI API is open: no public keys configured (set EVENTFN_OCI_KEYS)")

    async def authenticated(request: Request) -> bytes:
        """The body, once the signature over it holds (when keys are configured)."""
        body = await calls.read_body(
            request, runtime.settings.max_body_bytes, runtime.settings.read_timeout_s
        )
        if keys:
            query = request.scope["query_string"]
            target = request.scope.get("raw_path") or request.url.path.encode()
            if query:
                target += b"?" + query
            signed = SignedRequest(request.method, target.decode("latin-1"), request.headers, body)
            key_id = verify(signed, keys, datetime.now(UTC))
            log.debug("OCI request %s signed by %s", request_id(request), key_id)
        return body

    async def list_applications(request: Request) -> Response:
        await authenticated(request)
        wanted = request.query_params.get("compartmentId")
        apps = list(runtime.catalog.apps.values()) if wanted in (None, compartment) else []
        page, token = Listing.from_query(request.query_params.get).select(apps)
        return _json(request, [application_json(a, compartment) for a in page], token)

    async def get_application(request: Request) -> Response:
        await authenticated(request)
        app = runtime.catalog.app(request.path_params["application_id"])
        return _json(request, application_json(app, compartment))

    async def list_functions(request: Request) -> Response:
        await authenticated(request)
        app_id = request.query_params.get("applicationId")
        if not app_id:
            raise BadRequestError("applicationId is required")
        runtime.catalog.app(app_id)  # an unknown application is a 404, as on OCI
        fns = [f for f in runtime.catalog.fns.values() if f.app_id == app_id]
        page, token = Listing.from_query(request.query_params.get).select(fns)
        endpoint = _endpoint(request)
        return _json(
            request, [function_json(f, compartment, endpoint, summary=True) for f in page], token
        )

    async def get_function(request: Request) -> Response:
        await authenticated(request)
        fn = runtime.catalog.fn(request.path_params["function_id"])
        return _json(request, function_json(fn, compartment, _endpoint(request)))

    async def invoke(request: Request) -> Response:
        body = await authenticated(request)
        extra = [("opc-request-id", request_id(request))]
        fn_id = request.path_params["function_id"]
        # The caller's credentials are for this API, not for the function.
        return await calls.invoke(runtime, request, fn_id, body, extra, _CREDENTIALS)

    return [
        route
        for prefix in PREFIXES
        for route in (
            Route(f"{prefix}/applications", list_applications, methods=["GET"]),
            Route(f"{prefix}/applications/{{application_id}}", get_application, methods=["GET"]),
            Route(f"{prefix}/functions", list_functions, methods=["GET"]),
            Route(f"{prefix}/functions/{{function_id}}", get_function, methods=["GET"]),
            Route(f"{prefix}/functions/{{function_id}}/actions/invoke", invoke, methods=["POST"]),
        )
    ]


def is_oci(request: Request) -> bool:
    path = request.url.path
    return any(path == prefix or path.startswith(prefix + "/") for prefix in PREFIXES)


def request_id(request: Request) -> str:
    """The client's ``opc-request-id``, else one of ours; the same for the whole request."""
    known: str | None = getattr(request.state, "opc_request_id", None)
    if known is None:
        known = request.headers.get("opc-request-id") or new_id()
        request.state.opc_request_id = known
    return known


def _endpoint(request: Request) -> str:
    return str(request.base_url).rstrip("/")


def _json(request: Request, document: object, next_page: str = "") -> Response:
    headers = {"opc-request-id": request_id(request)}
    if next_page:
        headers["opc-next-page"] = next_page
    return Response(orjson.dumps(document), 200, headers, "application/json")
