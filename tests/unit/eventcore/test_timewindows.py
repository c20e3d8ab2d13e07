"""Event-time windows: which an event falls in, when they close, their aggregates."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from eventcore.rules import Rule, load_rules
from eventcore.timewindows import Span, Tally, aggregate, closes_at, open_spans, spans

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)


def rule(window: str, aggregate_: str = "count", lateness: str = "0s") -> Rule:
    (only,) = load_rules(
        f"rules: [{{name: w, window: {window}, aggregate: {aggregate_}, threshold: 1,"
        f" lateness: {lateness}}}]"
    )
    return only


def test_a_tumbling_window_holds_each_moment_once():
    tumbling = rule("{size: 1m}")
    assert tumbling.window is not None
    at = T0 + timedelta(seconds=59, milliseconds=999)
    assert spans(tumbling.window, at) == [Span(T0, T0 + timedelta(minutes=1))]
    assert spans(tumbling.window, T0 + timedelta(minutes=1))[0].start == T0 + timedelta(minutes=1)


def test_sliding_windows_overlap_by_their_hop():
    sliding = rule("{size: 1m, every: 20s}")
    assert sliding.window is not None
    found = spans(sliding.window, T0 + timedelta(seconds=45))
    assert [s.start - T0 for s in found] == [timedelta(seconds=n) for n in (0, 20, 40)]
    assert all(s.end - s.start == timedelta(minutes=1) for s in found)


def test_a_window_closes_at_its_end_plus_lateness_and_then_takes_nothing():
    late_ok = rule("{size: 1m}", lateness="10s")
    span = Span(T0, T0 + timedelta(minutes=1))
    assert closes_at(late_ok, span) == T0 + timedelta(minutes=1, seconds=10)
    at = T0 + timedelta(seconds=30)
    assert open_spans(late_ok, at, now=T0 + timedelta(minutes=1, seconds=9)) == [span]
    assert open_spans(late_ok, at, now=T0 + timedelta(minutes=1, seconds=10)) == []


@pytest.mark.parametrize(
    ("kind", "value"),
    [("count", 3.0), ("sum", 12.0), ("avg", 4.0), ("min", 2.0), ("max", 7.0), ("rate", 0.05)],
)
def test_each_aggregate_of_a_tally(kind: str, value: float):
    tally = Tally().add(3.0).add(7.0).add(2.0)
    windowed = rule("{size: 1m}", kind)
    assert windowed.window is not None
    assert windowed.aggregate == kind
    assert aggregate(windowed.aggregate, tally, windowed.window) == pytest.approx(value)


def test_count_counts_readings_without_a_number():
    assert Tally().add(None).add(1.0).count == 2


def test_an_event_at_the_end_of_time_falls_in_no_window_rather_than_failing():
    tumbling = rule("{size: 1m}", lateness="1h")
    assert tumbling.window is not None
    assert spans(tumbling.window, datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC)) == []
    last = Span(
        datetime(9999, 12, 31, 23, 0, tzinfo=UTC), datetime(9999, 12, 31, 23, 1, tzinfo=UTC)
    )
    assert closes_at(tumbling, last) == datetime.max.replace(tzinfo=UTC)
