"""The alert instance state machine, driven by events, closed windows and ticks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventcore.cloudevent import format_time, validate_event
from eventcore.instances import (
    EventRef,
    Instance,
    State,
    WindowResult,
    observe,
    tick,
    window_closed,
)
from eventcore.rules import Rule, load_rules, match

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rule(text: str) -> Rule:
    (only,) = load_rules(f"rules:\n  - {text}")
    return only


HOT = rule("{name: hot, type: TEMP, op: '>=', threshold: 80}")
HOT_FOR_10S = rule("{name: hot, type: TEMP, threshold: 80, for: 10s}")
HOT_KEEP_5S = rule("{name: hot, type: TEMP, threshold: 80, keep_firing_for: 5s}")
SILENT = rule("{name: silent, type: TEMP, absent_for: 30s}")
BUSY = rule(
    "{name: busy, type: TX, window: {size: 1m}, aggregate: count, op: '>', threshold: 5,"
    " group_by: [data.account]}"
)


def reading(value: object, at: datetime, n: int = 1, source: str = "/sensor/1") -> object:
    return validate_event(
        {
            "specversion": "1.0",
            "id": f"e-{n}",
            "source": source,
            "type": "TEMP",
            "time": format_time(at),
            "data": {"value": value},
        }
    )


def feed(r: Rule, values: list[tuple[object, float]], start: Instance | None = None):
    """Observe readings (value, seconds after T0); the instance and every transition."""
    instance = start or Instance("i", r.name, {"source": "/sensor/1", "subject": ""})
    transitions = []
    for n, (value, offset) in enumerate(values, 1):
        at = T0 + timedelta(seconds=offset)
        found = match(r, reading(value, at, n))
        assert found is not None
        step = observe(instance, r, found, seen_at=at)
        instance = step.instance
        transitions += step.transitions
    return instance, transitions


def states(transitions) -> list[tuple[str, str]]:
    return [(t.before.value, t.after.value) for t in transitions]


def test_fifty_hot_readings_fire_once_and_count_fifty():
    instance, transitions = feed(HOT, [(f"ALERT:{90 + n % 5}", n * 0.1) for n in range(50)])
    assert states(transitions) == [("inactive", "pending"), ("pending", "firing")]
    assert [t.notifies for t in transitions] == [False, True]
    assert instance.state is State.FIRING
    assert instance.event_count == 50
    assert instance.last_event is not None
    assert instance.last_event.id == "e-50"
    assert instance.first_event is not None
    assert instance.first_event.id == "e-1"


def test_a_normal_reading_resolves_a_firing_instance_at_once():
    firing, _ = feed(HOT, [(91, 0), (92, 1)])
    resolved, transitions = feed(HOT, [(20, 2)], start=firing)
    assert states(transitions) == [("firing", "resolved")]
    assert resolved.ended_at == T0 + timedelta(seconds=2)
    assert resolved.transitions == 3


def test_normal_readings_of_a_quiet_group_change_nothing():
    instance, transitions = feed(HOT, [(20, 0), (21, 1)])
    assert (instance.state, transitions) == (State.INACTIVE, [])
    assert instance.last_event is None


def test_a_reading_without_a_value_says_nothing():
    firing, _ = feed(HOT, [(91, 0)])
    after, transitions = feed(HOT, [("hot", 1)], start=firing)
    assert (after, transitions) == (firing, [])


def test_for_keeps_a_short_burst_pending_and_fires_a_long_one_once():
    burst, transitions = feed(HOT_FOR_10S, [(91, n) for n in range(4)])
    assert burst.state is State.PENDING
    assert states(transitions) == [("inactive", "pending")]
    held, transitions = feed(HOT_FOR_10S, [(91, n) for n in range(13)])
    assert states(transitions) == [("inactive", "pending"), ("pending", "firing")]
    assert held.fired_at == T0 + timedelta(seconds=10)


def test_a_false_reading_ends_a_pending_instance_without_firing():
    instance, transitions = feed(HOT_FOR_10S, [(91, 0), (50, 3), (91, 11)])
    assert states(transitions) == [
        ("inactive", "pending"),
        ("pending", "inactive"),
        ("inactive", "pending"),
    ]
    assert instance.started_at == T0 + timedelta(seconds=11)


def test_keep_firing_for_holds_a_firing_instance_after_it_stops_holding():
    firing, _ = feed(HOT_KEEP_5S, [(91, 0)])
    kept, transitions = feed(HOT_KEEP_5S, [(20, 1), (20, 3)], start=firing)
    assert (kept.state, transitions) == (State.FIRING, [])
    _resolved, transitions = feed(HOT_KEEP_5S, [(20, 6)], start=kept)
    assert states(transitions) == [("firing", "resolved")]


def test_keep_firing_for_resolves_on_a_tick_too():
    firing, _ = feed(HOT_KEEP_5S, [(91, 0), (20, 1)])
    assert tick(firing, HOT_KEEP_5S, T0 + timedelta(seconds=4)).transitions == []
    step = tick(firing, HOT_KEEP_5S, T0 + timedelta(seconds=7))
    assert states(step.transitions) == [("firing", "resolved")]


def test_a_firing_instance_with_no_event_for_resolve_after_resolves():
    firing, _ = feed(HOT, [(91, 0)])
    assert tick(firing, HOT, T0 + timedelta(minutes=4)).transitions == []
    step = tick(firing, HOT, T0 + timedelta(minutes=5))
    assert states(step.transitions) == [("firing", "resolved")]


def test_a_pending_instance_with_no_event_for_resolve_after_goes_back_to_inactive():
    pending, _ = feed(HOT_FOR_10S, [(91, 0)])
    step = tick(pending, HOT_FOR_10S, T0 + timedelta(minutes=5))
    assert states(step.transitions) == [("pending", "inactive")]
    assert not step.transitions[0].notifies


def test_a_silent_group_fires_after_absent_for_and_resolves_when_it_reports():
    seen, transitions = feed(SILENT, [(20, 0)])
    assert (seen.state, transitions) == (State.INACTIVE, [])
    assert tick(seen, SILENT, T0 + timedelta(seconds=29)).transitions == []
    silent = tick(seen, SILENT, T0 + timedelta(seconds=30))
    assert states(silent.transitions) == [("inactive", "firing")]
    back, transitions = feed(SILENT, [(21, 40)], start=silent.instance)
    assert states(transitions) == [("firing", "resolved")]
    assert tick(back, SILENT, T0 + timedelta(seconds=41)).transitions == []


def test_a_window_past_its_threshold_fires_and_a_later_one_below_resolves():
    instance = Instance("i", "busy", {"account": "a-1"})
    end = T0 + timedelta(minutes=1)
    last = EventRef("/bank", "tx-6", "TX", end - timedelta(seconds=1))
    fired = window_closed(instance, BUSY, WindowResult(T0, end, 6.0, 6, last), end)
    assert states(fired.transitions) == [("inactive", "firing")]
    assert fired.instance.event_count == 6
    still = window_closed(
        fired.instance, BUSY, WindowResult(end, end + timedelta(minutes=1), 7.0, 7), end
    )
    assert still.transitions == []
    later = end + timedelta(minutes=2)
    quiet = window_closed(
        still.instance, BUSY, WindowResult(later - timedelta(minutes=1), later, 2.0, 2), later
    )
    assert states(quiet.transitions) == [("firing", "resolved")]


def test_a_firing_window_instance_resolves_once_the_next_window_closed_empty():
    end = T0 + timedelta(minutes=1)
    fired = window_closed(
        Instance("i", "busy", {"account": "a-1"}), BUSY, WindowResult(T0, end, 6.0, 6), end
    )
    assert tick(fired.instance, BUSY, end + timedelta(seconds=59)).transitions == []
    step = tick(fired.instance, BUSY, end + timedelta(minutes=1))
    assert states(step.transitions) == [("firing", "resolved")]


def test_transitions_are_numbered_within_their_instance():
    instance, transitions = feed(HOT, [(91, 0), (20, 1), (91, 2)])
    assert states(transitions) == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
        ("resolved", "pending"),
        ("pending", "firing"),
    ]
    assert [t.seq for t in transitions] == [1, 2, 3, 4, 5]
    assert instance.transitions == 5
    assert instance.event_count == 1, "a new episode counts afresh"
