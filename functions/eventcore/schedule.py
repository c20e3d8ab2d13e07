"""Time passing for the alert rules, as Knative's PingSource tells it: a
CloudEvent of type ``dev.knative.sources.ping`` on a schedule.

A function asks for one with the annotation ``eventfn.io/ping-schedule`` in
its func.yaml, e.g. ``"@every 2s"``: the local gateway sends the pings, and
the Kubernetes manifests carry a PingSource with the same schedule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from eventcore.cloudevent import SPECVERSION, CloudEvent, format_time, validate_event
from eventcore.durations import parse_duration

PING_TYPE = "dev.knative.sources.ping"
ANNOTATION = "eventfn.io/ping-schedule"
_EVERY = "@every "


def every(schedule: str) -> float:
    """Seconds between pings of ``@every <duration>``; ValueError for anything else."""
    if not schedule.startswith(_EVERY):
        raise ValueError(f"{schedule!r} is not a schedule such as '@every 5s'")
    seconds = parse_duration(schedule.removeprefix(_EVERY))
    if seconds < 1:
        raise ValueError(f"{schedule!r}: pings come at most once a second")
    return seconds


def ping(source: str, event_id: str, at: datetime) -> CloudEvent:
    """One ping, as a PingSource sends it (no data)."""
    attributes: dict[str, Any] = {
        "specversion": SPECVERSION,
        "id": event_id,
        "source": source,
        "type": PING_TYPE,
        "time": format_time(at),
    }
    return validate_event(attributes)


def is_ping(event: CloudEvent) -> bool:
    return event.type == PING_TYPE
