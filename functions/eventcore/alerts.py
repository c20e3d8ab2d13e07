"""Alerts: what a rule raised for an event, and how it is told."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson

from eventcore.cloudevent import JSON_CONTENT_TYPE, SPECVERSION, CloudEvent, validate_event
from eventcore.ids import alert_id

__all__ = ["ALERT_TYPE", "Alert", "alert_id", "console_line", "to_cloudevent"]

ALERT_TYPE = "io.eventfn.alert"
ALERT_SOURCE = "/eventfn/alert"


@dataclass(frozen=True)
class Alert:
    """An alert raised by one rule for one event."""

    id: str
    rule: str
    severity: str
    message: str
    event_source: str
    event_id: str
    event_type: str
    event_time: str | None
    value: float | None
    threshold: float | None
    partition_key: str

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "rule": self.rule,
            "severity": self.severity,
            "message": self.message,
            "event": {"source": self.event_source, "id": self.event_id, "type": self.event_type},
            "event_time": self.event_time,
            "value": self.value,
            "threshold": self.threshold,
        }


def to_cloudevent(alert: Alert, time: str) -> CloudEvent:
    """The CloudEvent produced to the ``alerts`` topic; its id is the alert's."""
    return validate_event(
        {
            "specversion": SPECVERSION,
            "id": alert.id,
            "source": ALERT_SOURCE,
            "type": ALERT_TYPE,
            "subject": alert.rule,
            "time": time,
            "datacontenttype": JSON_CONTENT_TYPE,
            "data": alert.to_json(),
            "severity": alert.severity,
            "partitionkey": alert.partition_key,
        }
    )


def console_line(alert: Alert) -> str:
    """One log line per alert. Strings are JSON-quoted, so a CR, LF or escape
    sequence inside an event can never split the line or forge another."""

    def q(text: str) -> str:
        return orjson.dumps(text).decode()

    return (
        f"ALERT severity={q(alert.severity)} rule={q(alert.rule)} "
        f"event={q(alert.event_source + '#' + alert.event_id)} type={q(alert.event_type)} "
        f"value={'null' if alert.value is None else repr(alert.value)} "
        f"message={q(alert.message)}"
    )
