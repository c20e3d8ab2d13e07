"""Row 9: the alert stage with 20 stateful rules, in events/s, beside the persist
row (5) of the same run.

The stack's alert function reads a rule file of the run's own (bench/stack.py).
This row writes ``bench/alert-rules.yaml`` into it (thresholds with ``for`` and
``keep_firing_for``, windows of every aggregate, absences, several groupings)
and waits until the function has loaded it (its log says so). It then puts the
events on the topic as publish does and times an alert-only bridge, in a fresh
group, until the alert stage has applied every (rule, event) pair the rules
count, as ``alert_applied_events`` records them. The figure is the median of
``size.stage_repeats`` such runs (three in full mode), each on events of its
own. The shipped rules go back afterwards.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg

from bench import cpu
from bench.calls import call_means, gateway_calls
from bench.offsets import end_offsets, start_groups_at
from bench.payload import json_array
from bench.persist import CHUNK, cycled, rate
from bench.report import Row
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import median
from eventcore.cloudevent import CloudEvent
from eventcore.evaluation import matches
from eventcore.ingest import Defaults, parse_request
from eventcore.kafka_binding import to_record
from eventcore.rules import Rule, load_rules
from eventio.producer import EventProducer
from infra.settings import ROOT
from infra.topics import EVENTS
from infra.waiting import wait_until

RULES = ROOT / "bench" / "alert-rules.yaml"
SHIPPED = ROOT / "functions" / "alert" / "rules.yaml"


@dataclass(frozen=True)
class Timed:
    """One run: events/s, the (rule, event) pairs, the detail and the CPU meanwhile."""

    figure: float
    pairs: int
    detail: Mapping[str, float]
    cores: Mapping[str, float]


def produce(bootstrap: str, lines: Sequence[bytes]) -> list[CloudEvent]:
    """Put the events on the events topic as publish does; the events as produced."""
    producer = EventProducer(bootstrap, "bench-alerting", timeout_s=30.0)
    produced: list[CloudEvent] = []
    for start in range(0, len(lines), CHUNK):
        body = json_array(lines[start : start + CHUNK])
        ingested = parse_request(body, {"content-type": "application/json"}, Defaults(), 1 << 30)
        producer.send(EVENTS, [to_record(event) for event in ingested.events])
        produced += ingested.events
    producer.close()
    return produced


def use_rules(stack: Stack, text: str, count: int) -> None:
    """Write the stack's rule file and wait until the alert function loaded it."""
    path = Path(stack.env["EVENTFN_ALERT_RULES"])
    path.write_text(text)
    log = stack.run_dir / "logs" / "fn-alert.log"
    wanted = f"{path}: {count} rules loaded"
    wait_until(
        lambda: log.exists() and wanted in log.read_text(),
        timeout=30,
        what="the alert function to load the rules",
    )


def wait_applied(connection: psycopg.Connection[Any], since: float, expected: int) -> float:
    """The wall time at which ``expected`` (rule, event) pairs were applied since ``since``."""
    seen = 0

    def applied() -> bool:
        nonlocal seen
        row = connection.execute(
            "SELECT count(*) FROM alert_applied_events WHERE applied_at >= to_timestamp(%s)",
            (since,),
        ).fetchone()
        seen = int(row[0]) if row else 0
        return seen >= expected

    wait_until(applied, timeout=60 + expected / 200, what=f"{expected} applied pairs")
    return time.time()


def run(stack: Stack, size: Size, payload: list[bytes], persist: float) -> list[Row]:
    """Row 9, the median of ``size.stage_repeats`` runs."""
    rules_text = RULES.read_text()
    rules = load_rules(rules_text)
    lines = cycled(payload, size.alert_events)
    use_rules(stack, rules_text, len(rules))
    try:
        with psycopg.connect(stack.database_url, autocommit=True) as connection:
            runs = [once(stack, connection, lines, rules) for _ in range(size.stage_repeats)]
    finally:
        use_rules(stack, SHIPPED.read_text(), len(load_rules(SHIPPED.read_text())))
    return [row(size, rules_text, runs, persist)]


def once(
    stack: Stack, connection: psycopg.Connection[Any], lines: Sequence[bytes], rules: list[Rule]
) -> Timed:
    """Put ``lines`` on the topic and time an alert-only bridge through them."""
    offsets = end_offsets(stack.kafka)
    since = time.time()
    events = produce(stack.kafka, lines)
    pairs = len(matches(rules, events))
    prefix = f"bench-alert-{uuid.uuid4().hex[:8]}-"
    start_groups_at(stack.kafka, [prefix + "alert"], offsets)
    calls_before = gateway_calls(stack.gateway_url)
    with stack.start_bridge("alert", group_prefix=prefix), cpu.measure() as cores:
        done = wait_applied(connection, since, pairs)
    calls = call_means(calls_before, gateway_calls(stack.gateway_url))
    first = connection.execute(
        "SELECT extract(epoch FROM t)::float8, (SELECT count(DISTINCT (event_source,"
        " event_id)) FROM alert_applied_events WHERE applied_at = t)"
        " FROM (SELECT min(applied_at) AS t FROM alert_applied_events"
        " WHERE applied_at >= to_timestamp(%s)) AS first",
        (since,),
    ).fetchone()
    assert first is not None
    # From the first transaction's start to the last pair applied: the first
    # batch's fetch and POST fall before that start, so its events are not counted.
    figure = rate(len(lines) - int(first[1]), done - float(first[0]))
    return Timed(figure, pairs, {**calls, **instances(connection)}, cores)


def instances(connection: psycopg.Connection[Any]) -> dict[str, float]:
    rows = connection.execute("SELECT state, count(*) FROM alerts GROUP BY state").fetchall()
    found = {f"instances_{state}": float(count) for state, count in rows}
    windows = connection.execute("SELECT count(*) FROM alert_windows").fetchone()
    return {**found, "windows": float(windows[0]) if windows else 0.0}


def row(size: Size, rules_text: str, runs: Sequence[Timed], persist: float) -> Row:
    typical = sorted(runs, key=lambda r: r.figure)[len(runs) // 2]
    events = size.alert_events
    return Row(
        key="9",
        name="Alert stage: events topic → bridge → alert, 20 stateful rules",
        figure=median([r.figure for r in runs]),
        unit="events/s",
        limit_name="row 5, persist",
        limit=persist,
        settings={
            "events": events,
            "rules": f"{len(load_rules(rules_text))} (bench/alert-rules.yaml)",
            "rule_event_pairs": typical.pairs,
            "figure": "events after the first batch / (first batch's transaction start → "
            "every pair applied)",
            "bridge": "alert only, fresh group started at the events' first offsets",
            "repeats": len(runs),
            "runs": [round(r.figure) for r in runs],
            "cpu_cores": dict(typical.cores),
        },
        detail={"pairs_per_event": typical.pairs / events if events else 0.0, **typical.detail},
    )
