"""PostgreSQL: the alert stage's state, changed one transaction at a time.

Within one :meth:`AlertStore.transaction`, a batch is made idempotent (the
(rule, event) pairs already applied are dropped), windows are added to, and
instances are locked (``FOR UPDATE``, in id order, so two batches never
deadlock), changed and saved with their transitions. All of it commits or none
of it does: a crash between two steps leaves no half state, and a replayed
batch finds every one of its events applied already.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
import psycopg
from psycopg.types.json import Jsonb

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
_SAVE = """
UPDATE alerts SET state = %s, started_at = %s, fired_at = %s, ended_at = %s,
    last_true_at = %s, cleared_at = %s, last_seen_at = %s,
    first_event_source = %s, first_event_id = %s, event_source = %s, event_id = %s,
    event_type = %s, event_time = %s, event_count = %s, value = %s, message = %s,
    transitions = %s, severity = %s, threshold = %s, notify = notify OR %s,
    updated_at = now()
WHERE id = %s
"""
_TRANSITION = """
INSERT INTO alert_transitions (alert_id, seq, from_state, to_state, at, reason,
                               event_source, event_id, value)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)
"""
_APPLY_ONCE = """
INSERT INTO alert_applied_events (rule, event_source, event_id)
SELECT * FROM unnest(%s::text[], %s::text[], %s::text[])
ON CONFLICT DO NOTHING
RETURNING rule, event_source, event_id
"""
_ADD_TO_WINDOWS = """
INSERT INTO alert_windows AS w (alert_id, rule, group_key, labels, window_start, window_end,
    closes_at, count, total, low, high, last_event_source, last_event_id, last_event_type,
    last_event_time)
SELECT id, rule, grp, labels::jsonb, to_timestamp(s), to_timestamp(e), to_timestamp(c),
       n, t, lo, hi, src, eid, typ, to_timestamp(tm)
FROM unnest(%s::text[], %s::text[], %s::text[], %s::text[], %s::float8[], %s::float8[],
    %s::float8[], %s::bigint[], %s::float8[], %s::float8[], %s::float8[], %s::text[],
    %s::text[], %s::text[], %s::float8[])
    AS u(id, rule, grp, labels, s, e, c, n, t, lo, hi, src, eid, typ, tm)
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
        columns = [list(column) for column in zip(*sorted(pairs), strict=True)]
        fresh = set(self._cursor.execute(_APPLY_ONCE, columns).fetchall())
        first = []
        for m in found:
            pair = (m.rule.name, m.event.source, m.event.id)
            if pair in fresh:
                fresh.discard(pair)
                first.append(m)
        return first

    def mark_late(self, late: Iterable[Match]) -> None:
        pairs = sorted({(m.rule.name, m.event.source, m.event.id) for m in late})
        if pairs:
            self._cursor.executemany(
                "UPDATE alert_applied_events SET late = true "
                "WHERE rule = %s AND event_source = %s AND event_id = %s",
                pairs,
            )

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
        rows = [
            (
                add.key.id,
                add.key.rule,
                add.key.group_key,
                # as text: psycopg dumps a list of str far faster than of Jsonb
                orjson.dumps(dict(add.key.labels)).decode(),
                # times as epoch seconds: floats dump faster than datetimes
                add.span.start.timestamp(),
                add.span.end.timestamp(),
                add.closes_at.timestamp(),
                tally.count,
                tally.total,
                tally.low,
                tally.high,
                add.event.source,
                add.event.id,
                add.event.type,
                add.event.time.timestamp() if add.event.time else None,
            )
            for add, tally in (tallies[slot] for slot in sorted(tallies))
        ]
        columns = [list(column) for column in zip(*rows, strict=True)]
        taken = set(self._cursor.execute(_ADD_TO_WINDOWS, columns).fetchall())
        return [a for a in adds if (a.key.id, a.span.start) not in taken]

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
            self._cursor.executemany(
                "UPDATE alert_windows SET closed = true WHERE alert_id = %s AND window_start = %s",
                [(c.key.id, c.start) for c in closed],
            )
        return [c for c in closed if c.key.rule in lateness]

    def lock(self, keys: Iterable[Key], create: Iterable[Key] = ()) -> dict[str, Instance]:
        """The instances of ``keys`` that exist, locked for this transaction; those
        of ``create`` are made (inactive) first if they do not."""
        made = sorted({k.id: k for k in create}.values(), key=lambda k: k.id)
        if made:
            self._cursor.executemany(
                "INSERT INTO alerts (id, rule, group_key, labels, state) "
                "VALUES (%s, %s, %s, %s, 'inactive') ON CONFLICT (id) DO NOTHING",
                [(k.id, k.rule, k.group_key, Jsonb(dict(k.labels))) for k in made],
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
            self._cursor.executemany(
                _SAVE, [_row(i, rules.get(i.rule), i.id in notifying) for i in changed]
            )
        if transitions:
            self._cursor.executemany(
                _TRANSITION,
                [
                    (
                        t.instance.id,
                        t.seq,
                        t.before.value,
                        t.after.value,
                        t.at,
                        t.reason,
                        t.instance.last_event.source if t.instance.last_event else None,
                        t.instance.last_event.id if t.instance.last_event else None,
                        t.instance.value,
                    )
                    for t in transitions
                ],
            )

    def _select(self, where: str, params: tuple[Any, ...]) -> dict[str, Instance]:
        rows = self._cursor.execute(
            f"SELECT {_COLUMNS} FROM alerts {where}",  # noqa: S608 - fixed clauses
            params,
        ).fetchall()
        return {row[0]: _instance(row) for row in rows}


def _instance(row: Sequence[Any]) -> Instance:
    (iid, rule, labels, state, started, fired, ended, last_true, cleared, seen) = row[:10]
    (first_source, first_id, source, event_id, event_type, event_time) = row[10:16]
    (count, value, message, transitions) = row[16:20]
    return Instance(
        id=iid,
        rule=rule,
        labels=labels if isinstance(labels, dict) else orjson.loads(labels),
        state=State(state),
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


def _row(instance: Instance, rule: Rule | None, notify: bool) -> tuple[Any, ...]:
    first, last = instance.first_event, instance.last_event
    return (
        instance.state.value,
        instance.started_at,
        instance.fired_at,
        instance.ended_at,
        instance.last_true_at,
        instance.cleared_at,
        instance.last_seen_at,
        first.source if first else None,
        first.id if first else None,
        last.source if last else None,
        last.id if last else None,
        last.type if last else None,
        last.time if last else None,
        instance.event_count,
        instance.value,
        instance.message,
        instance.transitions,
        rule.severity if rule else "",
        rule.threshold if rule else None,
        notify,
        instance.id,
    )
