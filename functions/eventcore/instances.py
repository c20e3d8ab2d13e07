"""Alert instances: one per rule and group, inactive, pending, firing or resolved.

A small state machine, a function of its inputs. Each step takes an instance
and returns it as it now is, with the transitions it made:

- :func:`observe`: a matching event. For a threshold rule the condition holds,
  fails, or the reading says nothing (no change); for an absence rule the
  group reported.
- :func:`window_closed`: a window rule's aggregate over a window that closed.
- :func:`tick`: time passed (the schedule's ping), which events cannot say.

Threshold rules::

    inactive/resolved --holds--> pending --holds `for` later (event time)--> firing
    pending --fails, or no event for resolve_after--> inactive
    firing --fails (and keep_firing_for passed), or no event for resolve_after--> resolved

With ``for: 0`` an instance goes straight to firing. Window rules fire when a
closed window's aggregate passes the threshold and resolve when one does not,
or when the next window closed without events. Absence rules fire when a
group seen before sends nothing for ``absent_for`` and resolve when it reports.

Times: ``for``, ``keep_firing_for`` and windows are in event time (the event's
``time``); ``resolve_after`` and ``absent_for`` in the time the events were
processed, so a client's clock can neither raise nor hold a "no data" alert.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import Enum
from functools import lru_cache
from typing import Any

from eventcore.cloudevent import parse_time
from eventcore.rules import Kind, Match, Rule, compare, render, render_window


class State(Enum):
    """Where an instance stands; the values are what the alerts table holds."""

    INACTIVE = "inactive"
    PENDING = "pending"
    FIRING = "firing"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class Key:
    """An alert instance's identity: a rule and a group."""

    id: str
    rule: str
    # the group's labels, which group_key spells (so they need not compare)
    labels: Mapping[str, str] = field(compare=False)
    group_key: str = ""


def group_key(rule: Rule, labels: Mapping[str, str]) -> str:
    """The group as one text, exactly as PostgreSQL's ``json_build_object(...)::text``
    writes it (the migration of the first alerts names groups with it)."""
    return _group_text(rule.group_labels, tuple(labels[name] for name in rule.group_labels))


def key(rule: Rule, labels: Mapping[str, str]) -> Key:
    """The key of ``rule``'s instance for a group: its id is the UUID of the
    MD5 of rule and group, as ``md5(rule || E'\\n' || group)::uuid`` in SQL."""
    names = rule.group_labels
    return _key(rule.name, names, tuple([labels[name] for name in names]))


@lru_cache(maxsize=65536)
def _key(rule: str, names: tuple[str, ...], values: tuple[str, ...]) -> Key:
    # A batch names the same groups again and again (each match's key is asked
    # for at each step): computed once each, and the one Key shared.
    text = _group_text(names, values)
    h = hashlib.md5(f"{rule}\n{text}".encode(), usedforsecurity=False).hexdigest()
    # str(uuid.UUID(h)), without building the UUID: one per new group
    uid = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
    return Key(uid, rule, dict(zip(names, values, strict=True)), text)


def _group_text(names: tuple[str, ...], values: tuple[str, ...]) -> str:
    pairs = (f"{_pg_json(n)} : {_pg_json(v)}" for n, v in zip(names, values, strict=True))
    return "{" + ", ".join(pairs) + "}"


@dataclass(frozen=True)
class EventRef:
    """The event an instance last counted, as its row names it."""

    source: str
    id: str
    type: str
    time: datetime | None


@dataclass(frozen=True)
class Instance:
    """One alert instance: a rule and a group, and where its episode stands."""

    id: str
    rule: str
    labels: Mapping[str, str]
    state: State = State.INACTIVE
    # event time the condition first held in this episode
    started_at: datetime | None = None
    fired_at: datetime | None = None
    ended_at: datetime | None = None
    # event time of the newest event it held for (window rules: the window's end)
    last_true_at: datetime | None = None
    # event time it stopped holding while firing (keep_firing_for counts from it)
    cleared_at: datetime | None = None
    # when the newest matching event was processed
    last_seen_at: datetime | None = None
    first_event: EventRef | None = None
    last_event: EventRef | None = None
    event_count: int = 0
    value: float | None = None
    message: str = ""
    # transitions so far: the next one's number
    transitions: int = 0


@dataclass(frozen=True)
class Transition:
    """One change of an instance's state, numbered within the instance."""

    instance: Instance  # as it is after the change
    seq: int
    before: State
    after: State
    at: datetime
    reason: str

    @property
    def notifies(self) -> bool:
        """Firing and resolving are told (Alertmanager, the alerts topic, the log)."""
        return self.after in (State.FIRING, State.RESOLVED) and self.before != self.after


@dataclass(frozen=True)
class WindowResult:
    """A closed window's aggregate for one group."""

    start: datetime
    end: datetime
    value: float
    count: int
    last_event: EventRef | None = None


@dataclass
class Step:
    """An instance being changed, and the transitions made so far."""

    instance: Instance
    transitions: list[Transition] = field(default_factory=list)

    def move(self, to: State, at: datetime, reason: str, **changes: Any) -> None:
        before = self.instance.state
        seq = self.instance.transitions + 1
        moved = replace(self.instance, state=to, transitions=seq, **changes)
        self.transitions.append(Transition(moved, seq, before, to, at, reason))
        self.instance = moved

    def update(self, **changes: Any) -> None:
        self.instance = replace(self.instance, **changes)


def event_ref(match: Match) -> EventRef:
    event = match.event
    return EventRef(event.source, event.id, event.type, _event_time(match))


def observe(instance: Instance, rule: Rule, match: Match, seen_at: datetime) -> Step:
    """A matching event of a threshold or absence rule, processed at ``seen_at``."""
    step = Step(instance)
    if rule.kind is Kind.ABSENCE:
        _reported(step, rule, match, seen_at)
    elif match.holds is not None:
        _threshold(step, rule, match, seen_at)
    return step


def _threshold(step: Step, rule: Rule, match: Match, seen_at: datetime) -> None:
    at = _event_time(match) or seen_at
    ref = event_ref(match)
    number = match.reading.number
    state = step.instance.state
    if not match.holds and state not in (State.PENDING, State.FIRING):
        return  # nothing to end: a normal reading leaves no trace
    step.update(last_seen_at=seen_at, last_event=ref)
    if not match.holds:
        if state is State.PENDING:
            step.move(State.INACTIVE, at, f"stopped holding before {rule.for_:g}s")
        elif state is State.FIRING:
            cleared = step.instance.cleared_at or at
            step.update(cleared_at=cleared, value=number)
            if at - cleared >= _seconds(rule.keep_firing_for):
                step.move(State.RESOLVED, at, "stopped holding", ended_at=at)
        return
    if state in (State.INACTIVE, State.RESOLVED):
        # A new episode.
        step.update(started_at=at, fired_at=None, ended_at=None, first_event=ref, event_count=0)
        step.move(State.PENDING, at, "holds")
    message = render(rule, match.event, match.reading, step.instance.event_count + 1, match.labels)
    # an event earlier than the episode's first (out of order) moves its start
    started = min(step.instance.started_at or at, at)
    step.update(
        started_at=started,
        last_true_at=max(step.instance.last_true_at or at, at),
        cleared_at=None,
        event_count=step.instance.event_count + 1,
        value=number,
        message=message,
    )
    if step.instance.state is State.PENDING and at - started >= _seconds(rule.for_):
        step.move(State.FIRING, at, f"held for {rule.for_:g}s", fired_at=at)


def _reported(step: Step, rule: Rule, match: Match, seen_at: datetime) -> None:
    ref = event_ref(match)
    firing = step.instance.state is State.FIRING
    step.update(
        last_seen_at=seen_at,
        last_event=ref,
        first_event=step.instance.first_event or ref,
        event_count=step.instance.event_count + 1,
        value=match.reading.number,
        message=render(
            rule, match.event, match.reading, step.instance.event_count + 1, match.labels
        ),
    )
    if firing:
        step.move(State.RESOLVED, seen_at, "reported again", ended_at=seen_at)


def window_closed(instance: Instance, rule: Rule, result: WindowResult, now: datetime) -> Step:
    """A window of ``rule`` closed for the instance's group with ``result``."""
    step = Step(instance)
    passed = compare(rule, result.value)
    if passed:
        step.update(
            last_true_at=result.end,
            last_seen_at=now,
            last_event=result.last_event or step.instance.last_event,
            event_count=result.count,
            value=result.value,
            message=render_window(rule, instance.labels, result.value, result.count),
        )
        if step.instance.state is not State.FIRING:
            step.update(started_at=result.start, ended_at=None, first_event=result.last_event)
            step.move(
                State.FIRING,
                now,
                f"{rule.aggregate} {result.value:g} {rule.op} "
                f"{rule.threshold:g} in the window ending {result.end.isoformat()}",
                fired_at=now,
            )
    elif step.instance.state is State.FIRING:
        step.update(value=result.value, event_count=result.count)
        step.move(
            State.RESOLVED,
            now,
            f"{rule.aggregate} {result.value:g} in the window ending {result.end.isoformat()}",
            ended_at=now,
        )
    return step


def tick(instance: Instance, rule: Rule, now: datetime) -> Step:
    """Time passed to ``now`` with no event for this instance."""
    step = Step(instance)
    state = instance.state
    seen = instance.last_seen_at
    quiet = seen is not None and now - seen >= _seconds(rule.resolve_after)
    if rule.absent_for is not None:
        if (
            state is not State.FIRING
            and seen is not None
            and now - seen >= _seconds(rule.absent_for)
        ):
            step.update(started_at=seen, ended_at=None, event_count=0)
            step.move(State.FIRING, now, f"no event for {rule.absent_for:g}s", fired_at=now)
    elif rule.window is not None:
        if state is State.FIRING and instance.last_true_at is not None:
            next_closed = instance.last_true_at + _seconds(rule.window.hop + rule.lateness)
            if now >= next_closed:
                step.move(
                    State.RESOLVED, now, "the next window closed without events", ended_at=now
                )
    elif state is State.PENDING and quiet:
        step.move(State.INACTIVE, now, f"no event for {rule.resolve_after:g}s")
    elif state is State.FIRING:
        cleared = instance.cleared_at
        if cleared is not None and now - cleared >= _seconds(rule.keep_firing_for):
            step.move(State.RESOLVED, now, "stopped holding", ended_at=now)
        elif quiet:
            step.move(State.RESOLVED, now, f"no event for {rule.resolve_after:g}s", ended_at=now)
    return step


def retire(instance: Instance, now: datetime) -> Step:
    """The instance's rule is gone from the rule file: whatever holds ends."""
    step = Step(instance)
    if instance.state is State.FIRING:
        step.move(State.RESOLVED, now, "the rule is gone", ended_at=now)
    elif instance.state is State.PENDING:
        step.move(State.INACTIVE, now, "the rule is gone")
    return step


def _event_time(match: Match) -> datetime | None:
    text = match.event.time
    return parse_time(text) if text else None


def _seconds(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _pg_json(text: str) -> str:
    """A JSON string as PostgreSQL's escape_json writes it: ``"``, ``\\`` and
    control characters escaped, everything else (non-ASCII too) as it is."""
    if not _NEEDS_ESCAPE.search(text):
        return f'"{text}"'
    out = ['"']
    for char in text:
        if char in _ESCAPES:
            out.append(_ESCAPES[char])
        elif char < " ":
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    out.append('"')
    return "".join(out)


_NEEDS_ESCAPE = re.compile(r'["\\\x00-\x1f]')
_ESCAPES = {
    '"': '\\"',
    "\\": "\\\\",
    "\b": "\\b",
    "\f": "\\f",
    "\n": "\\n",
    "\r": "\\r",
    "\t": "\\t",
}
