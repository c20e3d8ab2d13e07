"""publish: validate events and put them on Kafka; answers 202 once Kafka has them."""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from typing import Any

from fdk import response

from eventcore import ingest, kafka_binding
from eventcore.errors import EventError
from eventio import responses
from eventio.errors import DeliveryError, DependencyError
from eventio.memory import keep_freed_memory
from eventio.producer import EventProducer
from eventio.settings import FunctionSettings


@dataclass(frozen=True)
class Publisher:
    settings: FunctionSettings
    defaults: ingest.Defaults
    producer: EventProducer


@cache
def publisher() -> Publisher:
    """Made on the first call, kept for the life of the process."""
    keep_freed_memory()
    settings = FunctionSettings.from_env()
    producer = EventProducer(
        settings.bootstrap_servers, "eventfn-publish", settings.produce_timeout_s
    )
    return Publisher(settings, ingest.Defaults(source=settings.default_source), producer)


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    # Through an HTTP trigger every method arrives; events are only ever POSTed.
    method = ctx.Method()
    if method and method.upper() != "POST":
        return responses.json_response(
            ctx, 405, {"message": f"{method} is not allowed; POST events"}, {"Allow": "POST"}
        )
    app = publisher()
    try:
        ingested = ingest.parse_request(
            responses.request_body(data),
            responses.request_headers(ctx),
            app.defaults,
            app.settings.max_body_bytes,
        )
    except EventError as error:
        return responses.error_response(ctx, error)
    ids = [event.id for event in ingested.events]
    records = [kafka_binding.to_record(event) for event in ingested.events]
    try:
        app.producer.send(app.settings.events_topic, records)
    except DeliveryError as error:
        # Say exactly which events Kafka has, so a client can retry the rest.
        acknowledged, failed = error.split(ids)
        detail = {"acknowledged": acknowledged, "failed": failed}
        return responses.error_response(ctx, error, detail)
    except DependencyError as error:
        return responses.error_response(ctx, error)
    document: dict[str, Any] = {"ids": ids}
    if ingested.single:
        document = {"id": ids[0], **document}
    return responses.json_response(ctx, 202, document)
