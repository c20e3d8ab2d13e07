"""The alert stage: batches of events and the schedule's pings, against the rules,
with the state in PostgreSQL, told to Kafka, the log and Alertmanager.

A batch is one transaction (see alert_store): the events' matches are applied
once, windows are added to and instances changed, and the CloudEvents of the
instances that fired or resolved are produced to Kafka before it commits, so
a transition that is recorded has been published (a crash in between
produces it again under the same id). The console lines follow the commit.
Alertmanager is told after the commit and again on every ping while it has
not heard: it being down neither blocks the events nor loses an alert.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from eventcore import kafka_binding
from eventcore.alerts import console_line, to_alertmanager, to_cloudevent
from eventcore.batch import BatchResult
from eventcore.cloudevent import CloudEvent
from eventcore.evaluation import advance, matches, split, window_adds
from eventcore.instances import (
    Instance,
    Key,
    State,
    Step,
    Transition,
    WindowResult,
    key,
    retire,
    tick,
    window_closed,
)
from eventcore.rules import Kind, Match, Rule
from eventcore.schedule import is_ping
from eventcore.timewindows import aggregate
from eventio.alert_store import AlertStore, AlertTransaction
from eventio.alertmanager import Alertmanager, AlertmanagerError
from eventio.producer import EventProducer
from eventio.rulefile import RuleFile

log = logging.getLogger("eventfn.alert")


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class AlertStage:
    rules: RuleFile
    store: AlertStore
    producer: EventProducer
    alerts_topic: str
    alertmanager: Alertmanager | None
    resend_s: float
    generator_url: str
    clock: Callable[[], datetime] = _now
    # Alertmanager failed the last time: said once, not at every ping
    _unreachable: bool = field(default=False, init=False)

    def handle(self, events: Sequence[CloudEvent]) -> BatchResult:
        """Evaluate a batch (and tick for each ping in it); the counts of what happened."""
        if not events:
            # The bridge's question "could you work now?": see EventStore.write.
            self.store.ping()
            return BatchResult()
        rules = {rule.name: rule for rule in self.rules.current()}
        data = [event for event in events if not is_ping(event)]
        told: list[Transition] = []
        late = 0
        if data:
            batch_told, late = self._batch(rules, data)
            told += batch_told
        ticked = any(is_ping(event) for event in events)
        if ticked:
            told += self._tick(rules)
        for transition in told:
            print(console_line(transition, rules.get(transition.instance.rule)), flush=True)
        if ticked or told:
            self._notify(rules)
        counts = {
            "evaluated": len(data),
            "firing": sum(t.after is State.FIRING for t in told),
            "resolved": sum(t.after is State.RESOLVED for t in told),
            "late": late,
        }
        return BatchResult((), counts)

    def _batch(
        self, rules: Mapping[str, Rule], events: Sequence[CloudEvent]
    ) -> tuple[list[Transition], int]:
        now = self.clock()
        with self.store.transaction() as tx:
            fresh = tx.apply_once(matches(list(rules.values()), events))
            windowed, others = split(fresh)
            adds = window_adds(windowed, now)
            refused = {id(add) for add in tx.add_to_windows(adds)}
            counted = {
                (a.event.source, a.event.id, a.key.rule) for a in adds if id(a) not in refused
            }
            # Late: every window it fell in had closed, or closed while it was added.
            late = [m for m in windowed if _pair(m) not in counted]
            tx.mark_late(late)
            keys = {key(m.rule, m.labels) for m in others}
            creating = {key(m.rule, m.labels) for m in others if _creates(m)}
            before = tx.lock(keys, creating)
            current = {k.id: before.get(k.id) or _inactive(k) for k in keys}
            after, transitions = advance(current, others, now)
            # An instance without a row could only stay inactive: nothing to save.
            tx.save(before, {i: after[i] for i in before}, transitions, rules)
            self._publish(transitions, rules)
        return [t for t in transitions if t.notifies], len(late)

    def _tick(self, rules: Mapping[str, Rule]) -> list[Transition]:
        now = self.clock()

        def step(instance: Instance) -> Step:
            rule = rules.get(instance.rule)
            return tick(instance, rule, now) if rule else retire(instance, now)

        with self.store.transaction() as tx:
            before, current, transitions = self._close_windows(tx, rules, now)
            # Read without locks; lock (and look again at) only what time changes.
            changing = [
                iid
                for iid, instance in tx.ticking(list(rules.values()), now).items()
                if step(current.get(iid, instance)).transitions
            ]
            for iid, instance in tx.lock_free(changing).items():
                before.setdefault(iid, instance)
                ticked = step(current.get(iid, instance))
                current[iid] = ticked.instance
                transitions += ticked.transitions
            tx.save(before, current, transitions, rules)
            self._publish(transitions, rules)
        self.store.prune(now)
        return [t for t in transitions if t.notifies]

    def _close_windows(
        self, tx: AlertTransaction, rules: Mapping[str, Rule], now: datetime
    ) -> tuple[dict[str, Instance], dict[str, Instance], list[Transition]]:
        lateness = {name: rule.lateness for name, rule in rules.items() if rule.window}
        closed = sorted(tx.due_windows(now, lateness), key=lambda c: (c.end, c.key.id))
        keys = {c.key for c in closed}
        before = tx.lock(keys, keys)
        current = dict(before)
        transitions: list[Transition] = []
        for window in closed:
            rule = rules[window.key.rule]
            if rule.window is None or rule.aggregate is None:
                continue  # no longer a window rule: its windows give nothing
            value = aggregate(rule.aggregate, window.tally, rule.window)
            result = WindowResult(
                window.start, window.end, value, window.tally.count, window.last_event
            )
            instance = current.get(window.key.id) or _inactive(window.key)
            step = window_closed(instance, rule, result, now)
            current[window.key.id] = step.instance
            transitions += step.transitions
        return before, current, transitions

    def _publish(self, transitions: Sequence[Transition], rules: Mapping[str, Rule]) -> None:
        records = [
            kafka_binding.to_record(to_cloudevent(t, rules.get(t.instance.rule)))
            for t in transitions
            if t.notifies
        ]
        if records:
            self.producer.send(self.alerts_topic, records)

    def _notify(self, rules: Mapping[str, Rule]) -> None:
        if self.alertmanager is None:
            return
        now = self.clock()
        due = self.store.due_notifications(now - timedelta(seconds=self.resend_s))
        alerts = [
            to_alertmanager(i, rules.get(i.rule), now, self.resend_s, self.generator_url)
            for i in due
            if i.state in (State.FIRING, State.RESOLVED)
        ]
        try:
            self.alertmanager.post(alerts)
        except AlertmanagerError as error:
            if not self._unreachable:
                log.warning("%s; the alerts are told again at each ping until it answers", error)
            self._unreachable = True
            return
        if self._unreachable:
            log.info("Alertmanager at %s answers again", self.alertmanager.url)
            self._unreachable = False
        self.store.notified(due, now)


def _pair(found: Match) -> tuple[str, str, str]:
    return (found.event.source, found.event.id, found.rule.name)


def _creates(found: Match) -> bool:
    """Whether the match needs an instance row: a threshold that holds, or a
    group an absence rule has now seen."""
    return found.rule.kind is Kind.ABSENCE or bool(found.holds)


def _inactive(k: Key) -> Instance:
    return Instance(k.id, k.rule, k.labels)
