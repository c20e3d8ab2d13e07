"""The Fn server's API v2 (apps, fns, triggers), ``/version`` and the ping at ``/``,
answering as the real server does, so the fn CLI works unmodified."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from gateway.calls import read_body
from gateway.catalog.models import TriggerRecord, parse_object
from gateway.catalog.store import Catalog
from gateway.catalog.views import Page, app_json, fn_json, page_json, trigger_json
from gateway.runtime import Runtime

# The Fn server release whose API this one follows (fn CLI `fn version` shows it).
FN_SERVER_VERSION = "0.3.753"


def routes(runtime: Runtime) -> list[BaseRoute]:
    """The routes, each a thin handler over the runtime's catalog."""

    def catalog() -> Catalog:
        return runtime.catalog

    async def body(request: Request) -> dict[str, Any]:
        settings = runtime.settings
        return parse_object(
            await read_body(request, settings.max_body_bytes, settings.read_timeout_s)
        )

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    def trigger_doc(request: Request, trigger: TriggerRecord) -> dict[str, Any]:
        return trigger_json(trigger, catalog().app(trigger.app_id).name, base(request))

    async def ping(_: Request) -> Response:
        return _json({"hello": "world!", "goto": "https://github.com/fnproject/fn"})

    async def version(_: Request) -> Response:
        return _json({"version": FN_SERVER_VERSION})

    async def list_apps(request: Request) -> Response:
        q = request.query_params
        items, cursor = catalog().list_apps(_page(request), q.get("name", ""))
        return _json(page_json([app_json(a) for a in items], cursor))

    async def create_app(request: Request) -> Response:
        return _json(app_json(catalog().create_app(await body(request))))

    async def get_app(request: Request) -> Response:
        return _json(app_json(catalog().app(request.path_params["app_id"])))

    async def update_app(request: Request) -> Response:
        app = catalog().update_app(request.path_params["app_id"], await body(request))
        runtime.changed([fn.id for fn in catalog().fns.values() if fn.app_id == app.id])
        return _json(app_json(app))

    async def delete_app(request: Request) -> Response:
        runtime.retire(catalog().delete_app(request.path_params["app_id"]))
        return Response(status_code=204)

    async def list_fns(request: Request) -> Response:
        q = request.query_params
        items, cursor = catalog().list_fns(_page(request), q.get("app_id", ""), q.get("name", ""))
        return _json(page_json([fn_json(f, base(request)) for f in items], cursor))

    async def create_fn(request: Request) -> Response:
        return _json(fn_json(catalog().create_fn(await body(request)), base(request)))

    async def get_fn(request: Request) -> Response:
        return _json(fn_json(catalog().fn(request.path_params["fn_id"]), base(request)))

    async def update_fn(request: Request) -> Response:
        fn = catalog().update_fn(request.path_params["fn_id"], await body(request))
        runtime.changed([fn.id])
        return _json(fn_json(fn, base(request)))

    async def delete_fn(request: Request) -> Response:
        fn_id = request.path_params["fn_id"]
        catalog().delete_fn(fn_id)
        runtime.retire([fn_id])
        return Response(status_code=204)

    async def list_triggers(request: Request) -> Response:
        q = request.query_params
        items, cursor = catalog().list_triggers(
            _page(request), q.get("app_id", ""), q.get("fn_id", ""), q.get("name", "")
        )
        return _json(page_json([trigger_doc(request, t) for t in items], cursor))

    async def create_trigger(request: Request) -> Response:
        return _json(trigger_doc(request, catalog().create_trigger(await body(request))))

    async def get_trigger(request: Request) -> Response:
        return _json(trigger_doc(request, catalog().trigger(request.path_params["trigger_id"])))

    async def update_trigger(request: Request) -> Response:
        trigger = catalog().update_trigger(request.path_params["trigger_id"], await body(request))
        return _json(trigger_doc(request, trigger))

    async def delete_trigger(request: Request) -> Response:
        catalog().delete_trigger(request.path_params["trigger_id"])
        return Response(status_code=204)

    async def gone(_: Request) -> Response:
        # Fn removed its calls API; the server answers 410 with no body.
        return Response(status_code=410)

    return [
        Route("/", ping, methods=["GET"]),
        Route("/version", version, methods=["GET"]),
        Route("/v2/apps", list_apps, methods=["GET"]),
        Route("/v2/apps", create_app, methods=["POST"]),
        Route("/v2/apps/{app_id}", get_app, methods=["GET"]),
        Route("/v2/apps/{app_id}", update_app, methods=["PUT"]),
        Route("/v2/apps/{app_id}", delete_app, methods=["DELETE"]),
        Route("/v2/fns", list_fns, methods=["GET"]),
        Route("/v2/fns", create_fn, methods=["POST"]),
        Route("/v2/fns/{fn_id}", get_fn, methods=["GET"]),
        Route("/v2/fns/{fn_id}", update_fn, methods=["PUT"]),
        Route("/v2/fns/{fn_id}", delete_fn, methods=["DELETE"]),
        Route("/v2/fns/{fn_id}/calls{rest:path}", gone, methods=["GET"]),
        Route("/v2/triggers", list_triggers, methods=["GET"]),
        Route("/v2/triggers", create_trigger, methods=["POST"]),
        Route("/v2/triggers/{trigger_id}", get_trigger, methods=["GET"]),
        Route("/v2/triggers/{trigger_id}", update_trigger, methods=["PUT"]),
        Route("/v2/triggers/{trigger_id}", delete_trigger, methods=["DELETE"]),
    ]


def _page(request: Request) -> Page:
    q = request.query_params
    return Page.from_query(q.get("cursor", ""), q.get("per_page", ""))


def _json(document: dict[str, Any], status: int = 200) -> Response:
    return Response(orjson.dumps(document), status, media_type="application/json; charset=utf-8")
