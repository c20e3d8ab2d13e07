"""Single-function mode: Knative's runtime contract for one function of app.yaml.

Under Knative each function is a Service of its own, whose container serves
HTTP on ``$PORT``. With ``EVENTFN_FUNCTION=<name>`` the gateway deploys only
that function (its fdk instances on their Unix sockets, as always) and answers
every path and method with it, the way an Fn HTTP trigger does (``Fn-Http-*``
headers, ``Fn-Http-Status`` back): the original clients' ``POST <url>/publish``
and ``POST <url>/`` both reach publish, and the bridge's batches POSTed to the
persist Service's root reach persist. Only ``GET /livez``, ``/readyz`` and
``/metrics`` stay the gateway's own. The Fn and OCI APIs are not served: there
is no catalog to manage, and ``/v2/apps`` is one more path of the function.
"""

from __future__ import annotations

import logging
from dataclasses import replace

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway import calls
from gateway.access import Access
from gateway.errors import ConfigError, FnNotFoundError
from gateway.registry import DeclaredApp, DeclaredFunction, function_id
from gateway.runtime import Runtime
from gateway.settings import GatewaySettings

log = logging.getLogger("eventfn.gateway")

# The gateway's routes that stay its own, for GET (another method there is the function's).
OWN_PATHS = frozenset({"/livez", "/readyz", "/metrics"})
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
# Knative scales the pods; inside one, a single warm fdk instance serves the
# one call at a time that containerConcurrency 1 lets through. Without this the
# pod's own autoscaler would follow func.yaml's annotations too, and scale a
# second time (down to zero instances in a pod that Knative keeps).
PINNED_SCALE = {
    "autoscaling.knative.dev/min-scale": "1",
    "autoscaling.knative.dev/max-scale": "1",
    "autoscaling.knative.dev/initial-scale": "1",
}
# The full gateway's /publish route calls the function with this HTTP trigger.
PUBLISH_SOURCE = "/publish"


def only(app: DeclaredApp, settings: GatewaySettings) -> DeclaredApp:
    """The app as this gateway deploys it: whole, or only ``settings.function``
    (a name app.yaml's functions do not have stops the gateway)."""
    name = settings.function
    if name is None:
        return app
    try:
        fn = app.function_named(name)
    except FnNotFoundError:
        known = ", ".join(sorted(f.name for f in app.functions)) or "none"
        raise ConfigError(
            f'EVENTFN_FUNCTION={name}: app "{app.name}" has no such function '
            f"(its functions: {known}; each is a functions/<name>/func.yaml under {settings.root})"
        ) from None
    log.info("single-function mode: %s answers at every path", fn.name)
    pinned = replace(fn, annotations={**fn.annotations, **PINNED_SCALE})
    return replace(app, functions=(pinned,))


def call_scopes(fn: DeclaredFunction) -> frozenset[str]:
    """The API key scopes that reach ``fn`` on the full gateway, so that one keys
    file means the same in both modes: ``invoke`` always (the bridge's key),
    ``triggers`` when it has an HTTP trigger, ``publish`` when that is /publish
    (the original clients' key)."""
    sources = {t.source for t in fn.triggers if t.type == "http"}
    scopes = {"invoke"}
    if sources:
        scopes.add("triggers")
    if PUBLISH_SOURCE in sources:
        scopes.add("publish")
    return frozenset(scopes)


def routes(
    existing: list[BaseRoute], runtime: Runtime, access: Access | None, withheld: frozenset[str]
) -> list[BaseRoute]:
    """The gateway's health and metrics routes of ``existing``, then the one
    function at every other path and method."""
    (declared,) = runtime.declared.functions
    app_name = runtime.declared.name
    fn_id = function_id(app_name, declared.name)
    scopes = call_scopes(declared)

    async def call(request: Request) -> Response:
        if access is not None:
            key = access.check_any(request.headers, scopes, f'call function "{declared.name}"')
            Access.check_app(key, app_name)
        return await calls.trigger(runtime, request, runtime.function(fn_id), withheld=withheld)

    own = [r for r in existing if isinstance(r, Route) and r.path in OWN_PATHS]
    return [*own, Route("/{path:path}", call, methods=METHODS)]
