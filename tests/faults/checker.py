"""The verdict, computed from the history and the final reads alone (no I/O).

Sets, after the anchors' §3.6: S sent, A acknowledged, D in the ``events``
table, Q in the dead-letter topic.

- lost = A - (D | Q): acknowledged, then nowhere. Must be empty.
- phantom = (D | Q) - S: visible but never sent. Must be empty.
- duplicated: rows beyond the distinct events, and events both in the table
  and in the dead-letter topic.
- reported, not a violation: events one function dead-lettered more than
  once. The bridge produces a dead letter, then commits; killed in between,
  its successor dead-letters the record again (the dead-letter topic is
  at-least-once). A run without kills expects none.
- no good event (sent through ``/publish``) in the dead-letter topic.
- with poison: every poison event dead-lettered by persist, and
  rows + persist's dead letters = events sent.
- committed offsets never go backwards, per group and partition.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from tests.faults.events import Key, intact
from tests.faults.history import INVOKE, OK, keys_of, nemesis_entries, outcomes

PUBLISH, PRODUCE = "publish", "produce"
PERSIST = "persist"


@dataclass(frozen=True)
class Row:
    """One row of ``events``: identity, data and when it was written (epoch seconds)."""

    key: Key
    data: Any
    received_at: float


@dataclass(frozen=True)
class DeadLetter:
    """One record of the dead-letter topic, read back."""

    key: Key
    function: str
    attempts: int
    first_failure: float | None
    written_at: float
    reason: str = ""


@dataclass(frozen=True)
class OffsetSample:
    """A consumer group's committed offset of one partition, at one moment."""

    t: float
    group: str
    partition: int
    offset: int


@dataclass(frozen=True)
class Observed:
    """What the system holds once quiet."""

    rows: Sequence[Row]
    dead_letters: Sequence[DeadLetter]
    offsets: Sequence[OffsetSample] = ()
    # how many records of the events topic carry each event (retried publishes)
    kafka_copies: Mapping[Key, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Regression:
    """A committed offset lower than one committed before it: a stale commit."""

    group: str
    partition: int
    before: int
    after: int
    t: float


@dataclass(frozen=True)
class Flow:
    """How good events fared while poison was being handled (all from data)."""

    poison_letters: int
    retried: int
    longest_window_s: float
    good_rows_in_windows: int
    good_after_first_poison: int
    delay_p50_s: float
    delay_p99_s: float
    delay_max_s: float


@dataclass(frozen=True)
class FaultRecord:
    fault: str
    target: str
    progress: int
    recovery_s: float | None
    note: str = ""


@dataclass(frozen=True)
class Result:
    """Counts, what was violated, and a paragraph saying so."""

    counts: Mapping[str, int]
    violations: Sequence[str]
    faults: Sequence[FaultRecord]
    flow: Flow | None
    examples: Mapping[str, Sequence[Key]]

    @property
    def ok(self) -> bool:
        return not self.violations

    def summary(self) -> str:
        c = self.counts
        parts = [
            f"{c['sent']} events sent ({c['published']} through /publish in {c['requests']} "
            f"requests, {c['attempts']} attempts; {c['poison']} poison produced to Kafka); "
            f"{c['acked']} acknowledged, {c['unacknowledged']} never, "
            f"{c['indeterminate']} left unknown.",
            f"PostgreSQL holds {c['rows']} rows ({c['distinct_rows']} distinct events); "
            f"the dead-letter topic {c['dead_letters']} records "
            f"({c['persist_dead_letters']} distinct events from persist).",
            f"Lost {c['lost']}, phantom {c['phantom']}, duplicated {c['duplicated']} "
            f"({c['duplicate_rows']} extra rows, {c['in_both']} both stored and dead-lettered), "
            f"corrupted {c['corrupted']}, good events dead-lettered {c['good_dead_lettered']}; "
            f"{c['dead_lettered_twice']} events dead-lettered again by the same function.",
            f"Kafka holds {c['kafka_repeated']} events more than once (retried publishes, "
            f"expected); committed offsets: {c['offset_samples']} samples, "
            f"{c['offset_regressions']} regressions.",
        ]
        if self.faults:
            parts.append(
                "Faults: "
                + "; ".join(
                    f"{f.fault} ({f.target}) at {f.progress} acked, "
                    + (f"back in {f.recovery_s:.1f}s" if f.recovery_s is not None else "NOT back")
                    + (f", {f.note}" if f.note else "")
                    for f in self.faults
                )
                + "."
            )
        if self.flow is not None:
            fl = self.flow
            parts.append(
                f"Poison: {fl.poison_letters} dead-lettered by persist, {fl.retried} of them "
                f"after more than one attempt (longest from first failure to dead letter "
                f"{fl.longest_window_s:.3f}s, {fl.good_rows_in_windows} good rows written "
                f"during those retries); {fl.good_after_first_poison} good events "
                f"acknowledged after the first poison was produced reached the table after "
                f"p50 {fl.delay_p50_s:.2f}s, "
                f"p99 {fl.delay_p99_s:.2f}s, max {fl.delay_max_s:.2f}s."
            )
        verdict = "PASS." if self.ok else "FAIL: " + "; ".join(self.violations) + "."
        return " ".join([*parts, verdict])


def check(
    entries: Sequence[Mapping[str, Any]],
    observed: Observed,
    *,
    expected_events: int,
    flow_limit_s: float = 12.5,
) -> Result:
    """The verdict on one run: ``entries`` is the whole history."""
    published = outcomes(entries, PUBLISH)
    produced = outcomes(entries, PRODUCE)
    poison_kinds = _poison_kinds(entries)
    poison = frozenset(poison_kinds)
    sent = published.sent | produced.sent
    acked = published.acked | produced.acked

    row_keys = [row.key for row in observed.rows]
    stored = set(row_keys)
    letters_by_fn: dict[str, Counter[Key]] = {}
    for letter in observed.dead_letters:
        letters_by_fn.setdefault(letter.function, Counter())[letter.key] += 1
    dead = set().union(*letters_by_fn.values()) if letters_by_fn else set()
    persist_dead = set(letters_by_fn.get(PERSIST, Counter()))

    lost = acked - (stored | dead)
    phantom = (stored | dead) - sent
    duplicate_rows = len(row_keys) - len(stored)
    in_both = stored & dead
    twice = {key for counts in letters_by_fn.values() for key, n in counts.items() if n > 1}
    corrupted = {row.key for row in observed.rows if row.key in published.sent} - {
        row.key for row in observed.rows if intact(row.key, row.data)
    }
    good_dead = dead & (sent - poison)
    poison_missing = poison - persist_dead
    unacknowledged = published.sent - published.acked
    regressions = offset_regressions(observed.offsets)
    faults = fault_records(entries)

    counts = {
        "expected": expected_events,
        "sent": len(sent),
        "published": len(published.sent),
        "poison": len(poison),
        "requests": published.requests,
        "attempts": published.attempts,
        "acked": len(acked),
        "unacknowledged": len(unacknowledged),
        "indeterminate": len(published.indeterminate),
        "rows": len(row_keys),
        "distinct_rows": len(stored),
        "dead_letters": len(observed.dead_letters),
        "persist_dead_letters": len(persist_dead),
        "lost": len(lost),
        "phantom": len(phantom),
        "duplicate_rows": duplicate_rows,
        "in_both": len(in_both),
        "dead_lettered_twice": len(twice),
        "duplicated": duplicate_rows + len(in_both),
        "corrupted": len(corrupted),
        "good_dead_lettered": len(good_dead),
        "poison_not_dead_lettered": len(poison_missing),
        "kafka_repeated": sum(1 for n in observed.kafka_copies.values() if n > 1),
        "offset_samples": len(observed.offsets),
        "offset_regressions": len(regressions),
    }
    violations = []
    if len(published.sent) != expected_events:
        violations.append(f"{len(published.sent)} events published, {expected_events} planned")
    named = {
        "lost": lost,
        "phantom": phantom,
        "both stored and dead-lettered": in_both,
        "corrupted": corrupted,
        "good events dead-lettered": good_dead,
        "poison not dead-lettered by persist": poison_missing,
        "never acknowledged by /publish": unacknowledged,
    }
    for what, keys in named.items():
        if keys:
            violations.append(f"{len(keys)} {what}")
    if duplicate_rows:
        violations.append(f"{duplicate_rows} duplicate rows")
    if poison and len(stored) + len(persist_dead) != len(sent):
        violations.append(
            f"rows + persist's dead letters = {len(stored)} + {len(persist_dead)} "
            f"!= {len(sent)} events sent"
        )
    for regression in regressions[:5]:
        violations.append(
            f"stale commit: {regression.group} partition {regression.partition} went from "
            f"{regression.before} back to {regression.after}"
        )
    for fault in faults:
        if fault.recovery_s is None:
            violations.append(f"{fault.fault} did not come back")
    flow = None
    if poison:
        flow = measure_flow(entries, observed, poison)
        if flow.delay_max_s > flow_limit_s:
            violations.append(
                f"a good event took {flow.delay_max_s:.1f}s to reach the table after its "
                f"acknowledgement, over {flow_limit_s:g}s"
            )
        if flow.retried and flow.longest_window_s > 1.0 and not flow.good_rows_in_windows:
            violations.append("no good event landed while a poison event was being retried")
    examples = {what: sorted(keys)[:5] for what, keys in named.items() if keys}
    if twice:
        examples["dead-lettered again (reported)"] = sorted(twice)[:5]
    return Result(counts, violations, faults, flow, examples)


def offset_regressions(samples: Iterable[OffsetSample]) -> list[Regression]:
    """Every time a group's committed offset of a partition went below its previous value."""
    last: dict[tuple[str, int], int] = {}
    found = []
    for sample in sorted(samples, key=lambda s: s.t):
        if sample.offset < 0:  # nothing committed yet
            continue
        where = (sample.group, sample.partition)
        before = last.get(where)
        if before is not None and sample.offset < before:
            found.append(
                Regression(sample.group, sample.partition, before, sample.offset, sample.t)
            )
        last[where] = sample.offset if before is None else max(before, sample.offset)
    return found


def fault_records(entries: Iterable[Mapping[str, Any]]) -> list[FaultRecord]:
    """Each kill or pause and how long its component took to come back."""
    records = []
    open_: dict[str, dict[str, Any]] = {}
    for entry in nemesis_entries(entries):
        fault = entry.get("fault", "")
        if entry["f"] in ("kill", "pause"):
            open_[fault] = dict(entry)
        elif entry["f"] == "recovered" and fault in open_:
            open_[fault]["recovery_s"] = entry.get("recovery_s")
            open_[fault]["note"] = entry.get("note", "")
            records.append(open_.pop(fault))
        elif entry["f"] == "not-recovered" and fault in open_:
            open_[fault]["note"] = entry.get("error", "")
            records.append(open_.pop(fault))
    records.extend(open_.values())
    return [
        FaultRecord(
            fault=r.get("fault", ""),
            target=str(r.get("target", "")),
            progress=int(r.get("progress", 0)),
            recovery_s=r.get("recovery_s"),
            note=str(r.get("note", "")),
        )
        for r in sorted(records, key=lambda r: r["t"])
    ]


def measure_flow(
    entries: Sequence[Mapping[str, Any]], observed: Observed, poison: frozenset[Key]
) -> Flow:
    """Did good events keep reaching the table while poison was retried and dead-lettered?

    A retried poison event's window runs from its first failure to its dead
    letter's timestamp (both written by the bridge); good rows written inside
    it passed the poison by while it was retried. (A poison dead-lettered at
    its first attempt has no such window: the rows of its own batch carry the
    same ``received_at`` and would only seem to.) The delay of a good event is
    its row's ``received_at`` minus its acknowledgement, for those acknowledged
    after the first poison was produced.
    """
    letters = [d for d in observed.dead_letters if d.function == PERSIST and d.key in poison]
    windows = [(d.first_failure or d.written_at, d.written_at) for d in letters if d.attempts > 1]
    good_rows = [row for row in observed.rows if row.key not in poison]
    in_windows = sum(1 for row in good_rows if any(a <= row.received_at <= b for a, b in windows))
    first_poison = min(
        (e["t"] for e in entries if e["f"] == PRODUCE and e["type"] == INVOKE), default=math.inf
    )
    acked_at = outcomes(entries, PUBLISH).acked_at
    delays = sorted(
        max(0.0, row.received_at - acked_at[row.key])
        for row in good_rows
        if acked_at.get(row.key, -math.inf) >= first_poison
    )
    return Flow(
        poison_letters=len(letters),
        retried=sum(1 for d in letters if d.attempts > 1),
        longest_window_s=max((b - a for a, b in windows), default=0.0),
        good_rows_in_windows=in_windows,
        good_after_first_poison=len(delays),
        delay_p50_s=_quantile(delays, 0.5),
        delay_p99_s=_quantile(delays, 0.99),
        delay_max_s=delays[-1] if delays else 0.0,
    )


def _poison_kinds(entries: Iterable[Mapping[str, Any]]) -> dict[Key, str]:
    kinds: dict[Key, str] = {}
    for entry in entries:
        if entry["f"] == PRODUCE and entry["type"] == OK:
            for key in keys_of(entry):
                kinds[key] = entry.get("kind", "")
    return kinds


def _quantile(ordered: Sequence[float], q: float) -> float:
    if not ordered:
        return 0.0
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]
