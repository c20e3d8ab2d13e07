"""alert: evaluate the rules on batches of events and on the schedule's pings;
keep each alert instance's state in PostgreSQL and tell each firing and
resolving once, to the alerts topic, the log and Alertmanager."""

from __future__ import annotations

import io
from functools import cache
from pathlib import Path
from typing import Any

from fdk import response

from eventcore.batch import BatchResult
from eventcore.cloudevent import CloudEvent
from eventio import batch_handler
from eventio.alert_store import AlertStore
from eventio.alerting import AlertStage
from eventio.alertmanager import Alertmanager
from eventio.database import Database
from eventio.memory import keep_freed_memory
from eventio.producer import EventProducer
from eventio.rulefile import RuleFile
from eventio.settings import FunctionSettings


@cache
def stage() -> AlertStage:
    """Made on the first call, kept for the life of the process."""
    keep_freed_memory()
    settings = FunctionSettings.from_env()
    rules = settings.alert_rules
    if not rules.is_absolute():
        rules = Path(__file__).parent / rules
    return AlertStage(
        rules=RuleFile.open(rules),
        store=AlertStore(Database(settings.database_url, "eventfn-alert")),
        producer=EventProducer(
            settings.bootstrap_servers, "eventfn-alert", settings.produce_timeout_s
        ),
        alerts_topic=settings.alerts_topic,
        alertmanager=Alertmanager(settings.alertmanager_url) if settings.alertmanager_url else None,
        resend_s=settings.alert_resend_s,
        generator_url=settings.alert_generator_url,
    )


def evaluate(events: list[CloudEvent]) -> BatchResult:
    return stage().handle(events)


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    return batch_handler.handle(ctx, data, evaluate)
