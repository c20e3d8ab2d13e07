"""How an alert instance's firing and resolving are told: a CloudEvent on the
``alerts`` topic, a console line, and an alert in Alertmanager's v2 API."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

import orjson

from eventcore.cloudevent import (
    JSON_CONTENT_TYPE,
    SPECVERSION,
    CloudEvent,
    format_time,
    validate_event,
)
from eventcore.instances import EventRef, Instance, State, Transition
from eventcore.rules import Rule

ALERT_SOURCE = "/eventfn/alert"
TYPES = {State.FIRING: "eventfn.alert.firing", State.RESOLVED: "eventfn.alert.resolved"}
# Transitions are named by what they are (instance and number), so a batch
# processed twice names them the same and every store can refuse the copy.
_NAMESPACE = uuid.UUID("3f1c1c52-6a0e-4d8e-9a55-0b0f3e4a7a11")


def transition_id(instance: str, seq: int) -> str:
    """The id of an instance's ``seq``-th transition, and of the CloudEvent telling it."""
    return str(uuid.uuid5(_NAMESPACE, f"{instance}\n{seq}"))


def alert_labels(instance: Instance, rule: Rule | None) -> dict[str, str]:
    """Alertmanager's labels: ``alertname``, ``severity``, the group's labels
    (an empty one left out, as Prometheus does) and the rule's own."""
    labels = {"alertname": instance.rule}
    if rule is not None:
        labels["severity"] = rule.severity
    labels.update({name: value for name, value in instance.labels.items() if value})
    if rule is not None:
        labels.update(rule.labels)
    return labels


def to_alertmanager(
    instance: Instance, rule: Rule | None, now: datetime, resend_s: float, generator_url: str
) -> dict[str, Any]:
    """The instance as ``POST /api/v2/alerts`` takes it. A firing alert ends
    four re-sends from now unless sent again (as Prometheus sets it), so
    Alertmanager resolves it by itself if eventfn stops telling it."""
    firing = instance.state is State.FIRING
    ends = now + timedelta(seconds=4 * resend_s) if firing else (instance.ended_at or now)
    annotations = {"summary": instance.message or instance.rule}
    if rule is not None:
        annotations.update(rule.annotations)
    return {
        "labels": alert_labels(instance, rule),
        "annotations": annotations,
        "startsAt": format_time(instance.fired_at or instance.started_at or now),
        "endsAt": format_time(ends),
        "generatorURL": f"{generator_url.rstrip('/')}/alerts/{instance.id}",
    }


def to_cloudevent(transition: Transition, rule: Rule | None) -> CloudEvent:
    """The CloudEvent produced to the ``alerts`` topic for a firing or resolving."""
    instance = transition.instance
    return validate_event(
        {
            "specversion": SPECVERSION,
            "id": transition_id(instance.id, transition.seq),
            "source": ALERT_SOURCE,
            "type": TYPES[transition.after],
            "subject": instance.rule,
            "time": format_time(transition.at),
            "datacontenttype": JSON_CONTENT_TYPE,
            "data": snapshot(instance, rule, transition.reason),
            "partitionkey": instance.id,
        }
    )


def snapshot(instance: Instance, rule: Rule | None, reason: str) -> dict[str, Any]:
    """The instance as the ``alerts`` topic carries it."""
    return {
        "id": instance.id,
        "rule": instance.rule,
        "state": instance.state.value,
        "reason": reason,
        "severity": rule.severity if rule else None,
        "labels": alert_labels(instance, rule),
        "group": dict(instance.labels),
        "message": instance.message,
        "startsAt": _time(instance.fired_at or instance.started_at),
        "endsAt": _time(instance.ended_at),
        "eventCount": instance.event_count,
        "value": instance.value,
        "threshold": rule.threshold if rule else None,
        "firstEvent": _ref(instance.first_event),
        "lastEvent": _ref(instance.last_event),
    }


def console_line(transition: Transition, rule: Rule | None) -> str:
    """One log line per firing or resolving. Strings are JSON-quoted, so a CR,
    LF or escape sequence inside an event can never split the line or forge another."""
    instance = transition.instance
    event = instance.last_event
    return (
        f"{transition.after.value.upper()} severity={_q(rule.severity if rule else '')} "
        f"rule={_q(instance.rule)} group={orjson.dumps(dict(instance.labels)).decode()} "
        f"event={_q(f'{event.source}#{event.id}' if event else '')} "
        f"count={instance.event_count} "
        f"value={'null' if instance.value is None else repr(instance.value)} "
        f"message={_q(instance.message)}"
    )


def _q(text: str) -> str:
    return orjson.dumps(text).decode()


def _time(moment: datetime | None) -> str | None:
    return None if moment is None else format_time(moment)


def _ref(ref: EventRef | None) -> dict[str, Any] | None:
    if ref is None:
        return None
    return {"source": ref.source, "id": ref.id, "type": ref.type, "time": _time(ref.time)}
