"""A batch of events against the rules: which instances it touches, what it adds
to which windows, and what the instances become. Pure: the alert stage loads
and saves around it (eventio.alerting)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from eventcore.cloudevent import CloudEvent, parse_time
from eventcore.instances import EventRef, Instance, Key, Transition, key, observe
from eventcore.rules import Kind, Match, Rule, match_typed, rules_for
from eventcore.timewindows import Span, closes_at, open_spans

_NO_TIME = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class WindowAdd:
    """One event's reading, added to one window of its group."""

    key: Key
    span: Span
    closes_at: datetime
    number: float | None
    event: EventRef


def matches(rules: Sequence[Rule], events: Iterable[CloudEvent]) -> list[Match]:
    """Every (rule, event) pair the rules count, in the events' order."""
    # A batch holds a few types: each type's rules are found once, so a rule
    # whose pattern cannot take an event costs that event nothing.
    by_type: dict[str, list[Rule]] = {}
    found = []
    for event in events:
        typed = by_type.get(event.type)
        if typed is None:
            typed = by_type[event.type] = rules_for(rules, event.type)
        for rule in typed:
            counted = match_typed(rule, event)
            if counted is not None:
                found.append(counted)
    return found


def ordered(found: Iterable[Match]) -> list[Match]:
    """Matches in event time; the sort is stable, so equal times keep their order."""
    return sorted(found, key=lambda m: parse_time(m.event.time) if m.event.time else _NO_TIME)


def advance(
    instances: Mapping[str, Instance], found: Sequence[Match], seen_at: datetime
) -> tuple[dict[str, Instance], list[Transition]]:
    """Threshold and absence matches applied, in event-time order, to the
    instances they belong to (``instances`` by id holds every one of them)."""
    current = dict(instances)
    transitions: list[Transition] = []
    for each in ordered(found):
        k = key(each.rule, each.labels)
        step = observe(current[k.id], each.rule, each, seen_at)
        current[k.id] = step.instance
        transitions += step.transitions
    return current, transitions


def window_adds(found: Sequence[Match], now: datetime) -> list[WindowAdd]:
    """What window matches add to which windows still open at ``now`` (a match
    whose windows have all closed adds nothing: it is late)."""
    adds: list[WindowAdd] = []
    for each in found:
        rule = each.rule
        at = parse_time(each.event.time) if each.event.time else now
        spans = open_spans(rule, at, now)
        k = key(rule, each.labels)
        ref = EventRef(each.event.source, each.event.id, each.event.type, at)
        adds += [
            WindowAdd(k, span, closes_at(rule, span), each.reading.number, ref) for span in spans
        ]
    return adds


def split(found: Iterable[Match]) -> tuple[list[Match], list[Match]]:
    """Window matches apart from the rest."""
    listed = list(found)
    windows = [m for m in listed if m.rule.kind is Kind.WINDOW]
    return windows, [m for m in listed if m.rule.kind is not Kind.WINDOW]
