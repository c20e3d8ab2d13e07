"""The checker and the plans, on hand-made histories: no stack, no I/O."""

from __future__ import annotations

import ast
import itertools
import random
from pathlib import Path
from typing import Any

from tests.faults.checker import DeadLetter, Observed, OffsetSample, Row, check
from tests.faults.checker import offset_regressions as regressions
from tests.faults.events import Key, payload
from tests.faults.generator import plan_requests
from tests.faults.nemesis import pick_instance, plan_faults
from tests.faults.poison import MALFORMED, REJECTED, plan_poison
from tests.faults.stack import Instance

SOURCE = "/eventfn/faults/t"


def key(n: int) -> Key:
    return (SOURCE, f"t-{n:06d}")


def op(type_: str, f: str, ids: list[int], t: float = 0.0, **extra: Any) -> dict[str, Any]:
    return {
        "t": t,
        "process": "gen-0",
        "type": type_,
        "f": f,
        "request": ids[0],
        "source": SOURCE,
        "ids": [key(n)[1] for n in ids],
        **extra,
    }


def published(*ids: int, outcome: str = "ok") -> list[dict[str, Any]]:
    return [op("invoke", "publish", list(ids)), op(outcome, "publish", list(ids), t=1.0)]


def row(n: int, received_at: float = 2.0) -> Row:
    return Row(key(n), payload(key(n), n), received_at)


def letter(n: int, function: str = "persist") -> DeadLetter:
    return DeadLetter(key(n), function, 1, 2.0, 2.0)


def poison_op(n: int, kind: str) -> list[dict[str, Any]]:
    return [
        op("invoke", "produce", [n], t=0.5, kind=kind),
        op("ok", "produce", [n], t=0.5, kind=kind),
    ]


def test_every_acknowledged_event_stored_once_passes():
    result = check(published(0, 1, 2), Observed([row(0), row(1), row(2)], []), expected_events=3)
    assert result.ok, result.summary()
    assert result.counts["lost"] == result.counts["duplicated"] == 0
    assert result.summary().endswith("PASS.")


def test_an_acknowledged_event_nowhere_is_lost():
    result = check(published(0, 1), Observed([row(0)], []), expected_events=2)
    assert result.counts["lost"] == 1
    assert result.examples["lost"] == [key(1)]
    assert not result.ok


def test_an_unknown_outcome_may_be_missing_but_is_never_acknowledged():
    result = check(published(0, outcome="info"), Observed([], []), expected_events=1)
    assert result.counts["lost"] == 0
    assert result.counts["indeterminate"] == 1
    assert "1 never acknowledged by /publish" in result.violations


def test_a_row_nobody_sent_is_a_phantom():
    result = check(published(0), Observed([row(0), row(9)], []), expected_events=1)
    assert result.counts["phantom"] == 1


def test_stored_and_dead_lettered_is_duplicated():
    result = check(published(0, 1), Observed([row(0)], [letter(0), letter(1)]), expected_events=2)
    assert result.counts["in_both"] == result.counts["duplicated"] == 1
    assert result.counts["good_dead_lettered"] == 2
    assert not result.ok


def test_a_repeated_dead_letter_is_reported_not_a_violation():
    entries = [*published(0), *poison_op(8, MALFORMED)]
    result = check(entries, Observed([row(0)], [letter(8), letter(8)]), expected_events=1)
    assert result.counts["dead_lettered_twice"] == 1
    assert result.counts["duplicated"] == 0
    assert result.ok, result.summary()
    assert result.examples["dead-lettered again (reported)"] == [key(8)]


def test_altered_data_is_corrupted():
    bad = Row(key(0), {"seq": 0, "digest": "0000"}, 2.0)
    assert check(published(0), Observed([bad], []), expected_events=1).counts["corrupted"] == 1


def test_poison_must_all_be_dead_lettered_by_persist_and_add_up():
    entries = [*published(0, 1), *poison_op(7, MALFORMED), *poison_op(8, REJECTED)]
    letters = [letter(7), letter(7, "alert"), letter(8)]
    result = check(entries, Observed([row(0), row(1)], letters), expected_events=2)
    assert result.ok, result.summary()
    assert result.counts["rows"] + result.counts["persist_dead_letters"] == result.counts["sent"]
    assert result.flow is not None
    assert result.flow.poison_letters == 2


def test_poison_only_alert_dead_lettered_is_missing():
    entries = [*published(0), *poison_op(8, REJECTED)]
    result = check(entries, Observed([row(0)], [letter(8, "alert")]), expected_events=1)
    assert result.counts["poison_not_dead_lettered"] == 1
    assert any("rows + persist's dead letters" in v for v in result.violations)


def test_a_good_event_stuck_behind_poison_is_reported():
    entries = [*poison_op(8, REJECTED), *published(0)]
    late = Row(key(0), payload(key(0), 0), 1.0 + 60)
    result = check(entries, Observed([late], [letter(8)]), expected_events=1)
    assert result.flow is not None
    assert result.flow.delay_max_s == 60
    assert any("to reach the table" in v for v in result.violations)


def test_good_rows_written_while_a_poison_is_retried_show_the_flow():
    entries = [*poison_op(8, REJECTED), *published(0, 1)]
    retried = DeadLetter(key(8), "persist", 3, first_failure=1.5, written_at=4.0)
    flowing = check(entries, Observed([row(0, 2.0), row(1, 3.0)], [retried]), expected_events=2)
    assert flowing.flow is not None
    assert (flowing.flow.retried, flowing.flow.good_rows_in_windows) == (1, 2)
    assert flowing.ok, flowing.summary()
    blocked = check(entries, Observed([row(0, 5.0), row(1, 5.0)], [retried]), expected_events=2)
    assert "no good event landed while a poison event was being retried" in blocked.violations


def test_a_committed_offset_going_back_is_a_stale_commit():
    samples = [
        OffsetSample(1.0, "g", 0, 10),
        OffsetSample(2.0, "g", 0, 12),
        OffsetSample(3.0, "g", 1, -1001),
        OffsetSample(4.0, "g", 0, 11),
        OffsetSample(5.0, "g", 0, 12),
    ]
    (found,) = regressions(samples)
    assert (found.partition, found.before, found.after) == (0, 12, 11)
    result = check(published(0), Observed([row(0)], [], samples), expected_events=1)
    assert any("stale commit" in v for v in result.violations)


def test_requests_cover_every_event_once_in_order():
    requests = plan_requests(1000, SOURCE, "t", random.Random(1))
    keys = [k for r in requests for k in r.keys]
    assert keys == [key(n) for n in range(1000)]
    assert all(1 <= len(r.keys) <= 50 for r in requests)
    assert [r.first for r in requests] == sorted(r.first for r in requests)


def test_each_fault_fires_after_fresh_progress_and_before_the_next_gate():
    plan = plan_faults(["bridge", "kafka", "postgres"], 2000, random.Random(3))
    for planned, following in itertools.pairwise(plan):
        assert planned.at < planned.gate < following.at
        assert following.at - planned.at >= 2000 / 4 / 2
    assert plan[-1].gate < 2000


def test_a_function_kill_gives_each_function_the_same_chance():
    instances = [Instance(pid, "publish") for pid in (10, 11, 12, 13)] + [
        Instance(20, "persist"),
        Instance(30, "alert"),
    ]
    picked = [pick_instance(instances, n / 12).function for n in range(12)]
    assert picked.count("publish") == picked.count("persist") == picked.count("alert") == 4
    assert pick_instance(instances, 0.99) == Instance(13, "publish")


def test_poison_is_one_percent_malformed_and_a_tenth_of_a_percent_rejected():
    plan = plan_poison(2000, SOURCE, "t", random.Random(5))
    kinds = [p.kind for p in plan]
    assert (kinds.count(MALFORMED), kinds.count(REJECTED)) == (20, 2)
    assert all(0 <= p.at < 2000 for p in plan)


def test_the_checker_does_no_io():
    tree = ast.parse((Path(__file__).parent / "checker.py").read_text())
    imported = {
        (node.module or "") if isinstance(node, ast.ImportFrom) else alias.name
        for node in ast.walk(tree)
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    assert imported <= {
        "__future__",
        "math",
        "collections",
        "collections.abc",
        "dataclasses",
        "typing",
        "tests.faults.events",
        "tests.faults.history",
    }, imported
