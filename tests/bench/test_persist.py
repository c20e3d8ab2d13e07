"""Row 5's pure parts: rates, cycling the payload, and the two rows' targets."""

from __future__ import annotations

import pytest

from bench.persist import cycled, rate, rows
from bench.sizes import TINY
from bridge.settings import BridgeSettings


def timed(seconds: float) -> dict[str, float]:
    return {
        "started": 100.0,
        "ready": 101.0,
        "first_row": 101.5,
        "first_batch": 0.0,
        "done": 101.5 + seconds,
        "persist_calls": 4.0,
        "persist_call_mean_ms": 100.0,
    }


def test_rate_is_events_per_second_and_zero_without_time():
    assert rate(1000, 0.5) == 2000.0
    assert rate(1000, 0.0) == 0.0


def test_cycled_goes_round_the_lines():
    assert cycled([b"a", b"b"], 5) == [b"a", b"b", b"a", b"b", b"a"]


def test_persist_is_compared_with_copy_and_with_the_naive_consumer():
    # 2,000 events in 1 s through persist; COPY in 0.5 s (4,000/s); naive 300 in 3 s (100/s).
    five, five_b = rows(TINY, timed(1.0), (0.5, 1.0), 3.0, BridgeSettings())
    assert five.figure == pytest.approx(2000.0)
    assert five.limit == pytest.approx(4000.0)
    assert five.ratio == pytest.approx(0.5)
    assert [t.met for t in five.targets] == [True]
    assert five_b.limit == pytest.approx(100.0)
    assert five_b.ratio == pytest.approx(20.0)
    assert [t.met for t in five_b.targets] == [True]
    assert five.detail["persist_mean_batch"] == 500.0
    assert five.detail["copy_per_batch_events_per_s"] == pytest.approx(2000.0)
    assert five.detail["persist_call_share"] == pytest.approx(0.4)
    assert five.detail["events_per_s_from_bridge_start"] == pytest.approx(2000 / 2.5)


def test_missed_targets_are_reported_as_missed():
    five, five_b = rows(TINY, timed(4.0), (0.5, 1.0), 0.3, BridgeSettings())
    assert [t.met for t in five.targets] == [False]  # 500/s against 4,000/s
    assert [t.met for t in five_b.targets] == [False]  # 500/s against 1,000/s


def test_the_first_batch_is_not_counted_in_the_span_that_starts_inside_it():
    first_batch_of_500 = {**timed(1.0), "first_batch": 500.0}
    five, _ = rows(TINY, first_batch_of_500, (0.5, 1.0), 3.0, BridgeSettings())
    assert five.figure == pytest.approx(1500.0)
