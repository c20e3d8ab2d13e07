"""PostgreSQL: the alert stage's state, changed one transaction at a time.

Within one :meth:`AlertStore.transaction`, a batch is made idempotent (the
(rule, event) pairs already applied are dropped), windows are added to, and
instances are locked (``FOR UPDATE``, in id order, so two batches never
deadlock), changed and saved with their transitions. All of it commits or none
of it does: a crash between two steps leaves no half state, and a replayed
batch finds every one of its events applied already.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg

from eventcore.evaluation import WindowAdd
from eventcore.instances import EventRef, Instance, Key, State, Transition
from eventcore.rules import Match, Rule
from eventcore.timewindows import Tally
from eventio.database import Database

# Replays older than this may count again: Kafka's default retention (7 days).
APPLIED_RETENTION = timedelta(days=7)
CLOSED_WINDOW_RETENTION = timedelta(days=1)

_COLUMNS = (
    "id, rule, labels, state, started_at, fired_at, ended_at, last_true_at, cleared_at, "
    "last_seen_at, first_event_source, first_event_id, event_source, event_id, event_type, "
    "event_time, event_count, value, message, transitions"
)
# Each statement takes its rows as one JSON array (json_to_recordset): one round
# trip for the batch, and orjson writes it in C, where psycopg would dump each
# element of an array in Python. Times go as RFC 3339 text (exact to the
# microsecond), numbers through _float (JSON has no infinity).
_SAVE = """
UPDATE alerts a SET state = u.state, started_at = u.started_at, fired_at = u.fired_at,
    ended_at = u.ended_at, last_true_at = u.last_true_at, cleared_at = u.cleared_at,
    last_seen_at = u.last_seen_at, first_event_source = u.first_event_source,
    first_event_id = u.first_event_id, event_source = u.event_source,
    event_id = u.event_id, event_type = u.event_type, event_time = u.event_time,
    event_count = u.event_count, value = u.value, message = u.message,
    transitions = u.transitions, severity = u.severity, threshold = u.threshold,
    notify = a.notify OR u.notify, updated_at = now()
FROM json_to_recordset(%s::json) AS u(id text, state text, started_at timestamptz,
    fired_at timestamptz, ended_at timestamptz, last_true_at timestamptz,
    cleared_at timestamptz, last_seen_at timestamptz, first_event_source text,
    first_event_id text, event_source text, event_id text, event_type text,
    event_time timestamptz, event_count bigint, value float8, message text,
    transitions integer, severity text, threshold float8, notify boolean)
WHERE a.id = u.id
"""
_TRANSITIONS = """
INSERT INTO alert_transitions (alert_id, seq, from_state, to_state, at, reason,
                               event_source, event_id, value)
SELECT * FROM json_to_recordset(%s::json) AS t(alert_id text, seq integer,
    from_state text, to_state text, at timestamptz, reason text, event_source text,
    event_id text, value float8)
"""
_CREATE = """
INSERT INTO alerts (id, rule, group_key, labels, state)
SELECT id, rule, group_key, labels, 'inactive'
FROM json_to_recordset(%s::json) AS k(id text, rule text, group_key text, labels jsonb)
ON CONFLICT (id) DO NOTHING
"""
# Answers the pairs applied before (nearly always none), not the many new ones.
_APPLY_ONCE = """
WITH pairs AS (
    SELECT * FROM json_to_recordset(%s::json) AS p(rule text, event_source text, event_id text)
), applied AS (
    INSERT INTO alert_applied_events (rule, event_source, event_id)
    SELECT * FROM pairs
    ON CONFLICT DO NOTHING
    RETURNING rule, event_source, event_id
)
SELECT * FROM pairs EXCEPT ALL SELECT * FROM applied
"""
_MARK_LATE = """
UPDATE alert_applied_events a SET late = true
FROM json_to_recordset(%s::json) AS p(rule text, event_source text, event_id text)
WHERE a.rule = p.rule AND a.event_source = p.event_source AND a.event_id = p.event_id
"""
# Answers the rows refused (their window closed meanwhile), by their number.
_ADD_TO_WINDOWS = """
WITH u AS (
    SELECT * FROM json_to_recordset(%s::json) AS u(n integer, id text, rule text, grp text,
        labels jsonb, s timestamptz, e timestamptz, c timestamptz, count bigint,
        total float8, low float8, high float8, src text, eid text, typ text,
        tm timestamptz)
), taken AS (
    INSERT INTO alert_windows AS w (alert_id, rule, group_key, labels, window_start,
        window_end, closes_at, count, total, low, high, last_event_source, last_event_id,
        last_event_type, last_event_time)
    SELECT id, rule, grp, labels, s, e, c, count, total, low, high, src, eid, typ, tm
    FROM u ORDER BY n
    ON CONFLICT (alert_id, window_start) DO UPDATE SET
        count = w.count + EXCLUDED.count,
        total = w.total + EXCLUDED.total,
        low = LEAST(w.low, EXCLUDED.low),
        high = GREATEST(w.high, EXCLUDED.high),
        last_event_source = EXCLUDED.last_event_source,
        last_event_id = EXCLUDED.last_event_id,
        last_event_type = EXCLUDED.last_event_type,
        last_event_time = EXCLUDED.last_event_time
    WHERE NOT w.closed
    RETURNING alert_id, window_start
)
SELECT n FROM u
WHERE NOT EXISTS (SELECT FROM taken WHERE taken.alert_id = u.id AND taken.window_start = u.s)
"""
_CLOSE_WINDOWS = """
UPDATE alert_windows w SET closed = true
FROM json_to_recordset(%s::json) AS c(alert_id text, window_start timestamptz)
WHERE w.alert_id = c.alert_id AND w.window_start = c.window_start
"""
_DUE_WINDOWS = """
SELECT alert_id, rule, labels, group_key, window_start, window_end, count, total, low, high,
       last_event_source, last_event_id, last_event_type, last_event_time
FROM alert_windows
WHERE NOT closed AND closes_at <= %s
ORDER BY alert_id, window_start
FOR UPDATE SKIP LOCKED
"""


@dataclass(frozen=True)
class ClosedWindow:
    """A window whose time is up, with what it holds."""

    key: Key
    start: datetime
    end: datetime
    tally: Tally
    last_event: EventRef | None


class AlertStore:
    """The alert stage's tables: instances, transitions, windows, applied events."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def ping(self) -> None:
        self._database.ping()

    @contextmanager
    def transaction(self) -> Iterator[AlertTransaction]:
        with self._database.transaction() as connection, connection.cursor() as cursor:
            yield AlertTransaction(cursor)

    def due_notifications(self, resent_before: datetime, limit: int = 1000) -> list[Instance]:
        """Instances Alertmanager has yet to hear of, and firing ones to tell again."""
        with self._database.transaction() as connection:
            rows = connection.execute(
                f"SELECT {_COLUMNS} FROM alerts "  # noqa: S608 - fixed column list
                "WHERE notify OR (state = 'firing' AND "
                "(notified_at IS NULL OR notified_at <= %s)) ORDER BY id LIMIT %s",
                (resent_before, limit),
            ).fetchall()
        return [_instance(row) for row in rows]

    def notified(self, instances: Sequence[Instance], at: datetime) -> None:
        """Alertmanager has these as they are (a newer change is still to tell)."""
        with self._database.transaction() as connection:
            connection.execute(
                "UPDATE alerts a SET notify = false, notified_at = %s "
                "FROM unnest(%s::text[], %s::int[]) AS told(id, transitions) "
                "WHERE a.id = told.id AND a.transitions = told.transitions",
                (at, [i.id for i in instances], [i.transitions for i in instances]),
            )

    def prune(self, now: datetime) -> None:
        """Forget applied events past the replay horizon, and old closed windows."""
        with self._database.transaction() as connection:
            connection.execute(
                "DELETE FROM alert_applied_events WHERE applied_at < %s",
                (now - APPLIED_RETENTION,),
            )
            connection.execute(
                "DELETE FROM alert_windows WHERE closed AND closes_at < %s",
                (now - CLOSED_WINDOW_RETENTION,),
            )


class AlertTransaction:
    """The steps of one batch or tick, inside one transaction."""

    def __init__(self, cursor: psycopg.Cursor[Any]) -> None:
        self._cursor = cursor

    def apply_once(self, found: Sequence[Match]) -> list[Match]:
        """The matches not applied before (nor earlier in ``found``: a batch may
        hold an event twice), now marked applied."""
        if not found:
            return []
        pairs = {(m.rule.name, m.event.source, m.event.id) for m in found}
        # in key order, as every batch inserts them: two batches never deadlock
        before = set(self._execute(_APPLY_ONCE, _pairs(sorted(pairs))).fetchall())
        first = []
        for m in found:
            pair = (m.rule.name, m.event.source, m.event.id)
            if pair not in before:
                before.add(pair)  # a second copy in this batch is not fresh
                first.append(m)
        return first

    def mark_late(self, late: Iterable[Match]) -> None:
        pairs = sorted({(m.rule.name, m.event.source, m.event.id) for m in late})
        if pairs:
            self._execute(_MARK_LATE, _pairs(pairs))

    def add_to_windows(self, adds: Sequence[WindowAdd]) -> list[WindowAdd]:
        """Add to the windows, in one statement; those refused because their
        window closed meanwhile."""
        tallies: dict[tuple[str, datetime], tuple[WindowAdd, Tally]] = {}
        for add in adds:
            slot = (add.key.id, add.span.start)
            _, tally = tallies.get(slot, (add, Tally()))
            tallies[slot] = (add, tally.add(add.number))
        if not tallies:
            return []
        slots = sorted(tallies)
        rows = [
            {
                "n": n,
                "id": add.key.id,
                "rule": add.key.rule,
                "grp": add.key.group_key,
                "labels": add.key.labels,
                "s": add.span.start,
                "e": add.span.end,
                "c": add.closes_at,
                "count": tally.count,
                "total": _float(tally.total),
                "low": _float(tally.low),
                "high": _float(tally.high),
                "src": add.event.source,
                "eid": add.event.id,
                "typ": add.event.type,
                "tm": add.event.time,
            }
            for n, (add, tally) in enumerate(tallies[slot] for slot in slots)
        ]
        refused = {slots[n] for (n,) in self._execute(_ADD_TO_WINDOWS, rows).fetchall()}
        return [a for a in adds if (a.key.id, a.span.start) in refused]

    def due_windows(self, now: datetime, lateness: Mapping[str, float]) -> list[ClosedWindow]:
        """Windows whose time is up at ``now``, marked closed. A window of a rule
        that is gone (not in ``lateness``) closes too, and gives nothing."""
        rows = self._cursor.execute(_DUE_WINDOWS, (now,)).fetchall()
        closed = []
        for row in rows:
            (alert_id, rule, labels, group, start, end, count, total, low, high) = row[:10]
            last = EventRef(row[10], row[11], row[12], row[13]) if row[11] else None
            if rule in lateness and end + timedelta(seconds=lateness[rule]) > now:
                continue  # a rule whose lateness grew since: not yet
            closed.append(
                ClosedWindow(
                    Key(alert_id, rule, labels, group),
                    start,
                    end,
                    Tally(count, total, low, high),
                    last,
                )
            )
        if closed:
            self._execute(
                _CLOSE_WINDOWS, [{"alert_id": c.key.id, "window_start": c.start} for c in closed]
            )
        return [c for c in closed if c.key.rule in lateness]

    def lock(self, keys: Iterable[Key], create: Iterable[Key] = ()) -> dict[str, Instance]:
        """The instances of ``keys`` that exist, locked for this transaction; those
        of ``create`` are made (inactive) first if they do not."""
        made = sorted({k.id: k for k in create}.values(), key=lambda k: k.id)
        if made:
            self._execute(
                _CREATE,
                [
                    {"id": k.id, "rule": k.rule, "group_key": k.group_key, "labels": k.labels}
                    for k in made
                ],
            )
        wanted = sorted({k.id for k in keys} | {k.id for k in made})
        return self._select("WHERE id = ANY(%s) ORDER BY id FOR UPDATE", (wanted,))

    def ticking(self, rules: Sequence[Rule], now: datetime) -> dict[str, Instance]:
        """Instances time may change at ``now``, not locked: pending and firing
        ones, and the silent groups of absence rules."""
        found = self._select("WHERE state IN ('pending', 'firing')", ())
        for rule in rules:
            if rule.absent_for is not None:
                found.update(
                    self._select(
                        "WHERE rule = %s AND state <> 'firing' AND last_seen_at <= %s",
                        (rule.name, now - timedelta(seconds=rule.absent_for)),
                    )
                )
        return found

    def lock_free(self, ids: Iterable[str]) -> dict[str, Instance]:
        """The instances of ``ids`` as they are now, locked; those a batch holds
        are left out (the next tick takes them)."""
        wanted = sorted(set(ids))
        if not wanted:
            return {}
        return self._select("WHERE id = ANY(%s) ORDER BY id FOR UPDATE SKIP LOCKED", (wanted,))

    def save(
        self,
        before: Mapping[str, Instance],
        after: Mapping[str, Instance],
        transitions: Sequence[Transition],
        rules: Mapping[str, Rule],
    ) -> None:
        """Write the instances that changed, and every transition."""
        notifying = {t.instance.id for t in transitions if t.notifies}
        changed = [i for iid, i in sorted(after.items()) if before.get(iid) != i]
        if changed:
            self._execute(_SAVE, [_row(i, rules.get(i.rule), i.id in notifying) for i in changed])
        if transitions:
            self._execute(_TRANSITIONS, [_transition_row(t) for t in transitions])

    def _execute(self, statement: str, rows: list[dict[str, Any]]) -> psycopg.Cursor[Any]:
        """``statement`` with ``rows`` as its one JSON parameter."""
        return self._cursor.execute(statement, (orjson.dumps(rows).decode(),))

    def _select(self, where: str, params: tuple[Any, ...]) -> dict[str, Instance]:
        rows = self._cursor.execute(
            f"SELECT {_COLUMNS} FROM alerts {where}",  # noqa: S608 - fixed clauses
            params,
        ).fetchall()
        return {row[0]: _instance(row) for row in rows}


# By value without Enum's call: every instance a batch locks is read.
_STATES = {state.value: state for state in State}


def _instance(row: Sequence[Any]) -> Instance:
    (iid, rule, labels, state, started, fired, ended, last_true, cleared, seen) = row[:10]
    (first_source, first_id, source, event_id, event_type, event_time) = row[10:16]
    (count, value, message, transitions) = row[16:20]
    return Instance(
        id=iid,
        rule=rule,
        labels=labels if isinstance(labels, dict) else orjson.loads(labels),
        state=_STATES[state],
        started_at=started,
        fired_at=fired,
        ended_at=ended,
        last_true_at=last_true,
        cleared_at=cleared,
        last_seen_at=seen,
        first_event=EventRef(first_source, first_id, "", None) if first_id else None,
        last_event=EventRef(source, event_id, event_type or "", event_time) if event_id else None,
        event_count=count,
        value=value,
        message=message,
        transitions=transitions,
    )


def _row(instance: Instance, rule: Rule | None, notify: bool) -> dict[str, Any]:
    first, last = instance.first_event, instance.last_event
    return {
        "id": instance.id,
        "state": instance.state.value,
        "started_at": instance.started_at,
        "fired_at": instance.fired_at,
        "ended_at": instance.ended_at,
        "last_true_at": instance.last_true_at,
        "cleared_at": instance.cleared_at,
        "last_seen_at": instance.last_seen_at,
        "first_event_source": first.source if first else None,
        "first_event_id": first.id if first else None,
        "event_source": last.source if last else None,
        "event_id": last.id if last else None,
        "event_type": last.type if last else None,
        "event_time": last.time if last else None,
        "event_count": instance.event_count,
        "value": _float(instance.value),
        "message": instance.message,
        "transitions": instance.transitions,
        "severity": rule.severity if rule else "",
        "threshold": _float(rule.threshold) if rule else None,
        "notify": notify,
    }


def _transition_row(transition: Transition) -> dict[str, Any]:
    instance, last = transition.instance, transition.instance.last_event
    return {
        "alert_id": instance.id,
        "seq": transition.seq,
        "from_state": transition.before.value,
        "to_state": transition.after.value,
        "at": transition.at,
        "reason": transition.reason,
        "event_source": last.source if last else None,
        "event_id": last.id if last else None,
        "value": _float(instance.value),
    }


def _pairs(pairs: Iterable[tuple[str, str, str]]) -> list[dict[str, Any]]:
    return [{"rule": r, "event_source": s, "event_id": i} for r, s, i in pairs]


def _float(number: float | None) -> float | str | None:
    """A float for JSON: an infinite one (a sum may overflow) as PostgreSQL spells it."""
    if number is None or math.isfinite(number):
        return number
    return "NaN" if math.isnan(number) else ("Infinity" if number > 0 else "-Infinity")
