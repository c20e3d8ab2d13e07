"""alert: evaluate the rules on a batch of events; record, publish and print each alert once."""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any

from fdk import response

from eventcore import kafka_binding
from eventcore.alerts import Alert, console_line, to_cloudevent
from eventcore.batch import BatchResult, Failure
from eventcore.cloudevent import CloudEvent, format_time
from eventcore.rules import Rule, evaluate, load_rules
from eventio import batch_handler
from eventio.database import AlertStore, Database
from eventio.producer import EventProducer
from eventio.settings import FunctionSettings


@dataclass(frozen=True)
class Alerter:
    settings: FunctionSettings
    rules: list[Rule]
    store: AlertStore
    producer: EventProducer

    def raise_alerts(self, events: list[CloudEvent]) -> tuple[list[Alert], list[Failure]]:
        """Evaluate, record and publish; the alerts raised now for the first time,
        and a failure for each event whose alert PostgreSQL refused."""
        if not events:
            # The bridge's question "could you work now?": see EventStore.write.
            self.store.ping()
            return [], []
        raised = [alert for event in events for alert in evaluate(self.rules, event)]
        if not raised:
            return [], []
        # An alert counts as raised only once Kafka has it: if producing fails
        # the inserts roll back and the bridge's retry raises it again.
        with self.store.recording(raised) as (new, refused):
            if new:
                now = format_time(datetime.now(UTC))
                records = [kafka_binding.to_record(to_cloudevent(alert, now)) for alert in new]
                self.producer.send(self.settings.alerts_topic, records)
        return new, refused


@cache
def alerter() -> Alerter:
    """Made on the first call, kept for the life of the process."""
    settings = FunctionSettings.from_env()
    rules_path = settings.alert_rules
    if not rules_path.is_absolute():
        rules_path = Path(__file__).parent / rules_path
    producer = EventProducer(
        settings.bootstrap_servers, "eventfn-alert", settings.produce_timeout_s
    )
    database = Database(settings.database_url, "eventfn-alert")
    return Alerter(settings, load_rules(rules_path.read_text()), AlertStore(database), producer)


def raise_alerts(events: list[CloudEvent]) -> BatchResult:
    """Raise the batch's alerts, printing each new one; the events whose alert
    PostgreSQL refused are the failures."""
    new, refused = alerter().raise_alerts(events)
    for alert in new:
        print(console_line(alert), flush=True)
    return BatchResult(tuple(refused), {"evaluated": len(events), "alerts": len(new)})


def handler(ctx: Any, data: io.BytesIO | None = None) -> response.Response:
    return batch_handler.handle(ctx, data, raise_alerts)
