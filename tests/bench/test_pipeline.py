"""Row 8's pure parts: the lag, whether a run was sustained, the search's next
rate, where it starts, the request size and the row from its runs."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from bench.latency import Sent
from bench.offsets import lag
from bench.pipeline import Run, per_request, row, search, timed_runs
from bench.sizes import FULL
from bench.sustained import Sample, growth, judge, next_rate, start_rate

RATE = 10_000


def samples(*lags: tuple[int, int], start: float = 100.0) -> list[Sample]:
    """One sample a second, each (persist lag, alert lag)."""
    return [
        Sample(start + i, {"persist": persist, "alert": alert})
        for i, (persist, alert) in enumerate(lags)
    ]


def steady(seconds: int = 10) -> list[Sample]:
    return samples(*[(1_000 + 500 * (i % 2), 2_000) for i in range(seconds + 1)])


def sustained(lags: list[Sample], **overrides: float) -> tuple[bool, str]:
    values: dict[str, float] = {
        "rate": RATE,
        "seconds": 10.0,
        "offered": 100_000,
        "acked": 100_000,
        "late_s": 0.2,
        "stored": 100_000,
    }
    values.update(overrides)
    verdict = judge(
        values["rate"],
        values["seconds"],
        int(values["offered"]),
        int(values["acked"]),
        values["late_s"],
        int(values["stored"]),
        lags,
    )
    return verdict.sustained, verdict.why


def test_lag_is_what_each_partition_has_past_its_committed_offset():
    assert lag({0: 100, 1: 50}, {0: 90, 1: 50}) == 10
    assert lag({0: 100, 1: 50}, {0: 100}) == 50  # never committed: from the start
    assert lag({0: 100}, {0: -1001}) == 100  # librdkafka's "no offset"
    assert lag({0: 100}, {0: 120}) == 0


def test_growth_is_the_slope_over_the_second_half_only():
    rising_late = samples(*[(0, 0)] * 5 + [(1_000 * i, 0) for i in range(1, 7)])
    assert growth(rising_late, "persist") == pytest.approx(1_000.0)
    falling_late = samples(*[(50_000, 0)] * 5 + [(50_000 - 5_000 * i, 0) for i in range(6)])
    assert growth(falling_late, "persist") < 0
    assert growth(samples((5, 5)), "persist") == 0.0


def test_a_run_whose_lag_stays_low_and_flat_is_sustained():
    assert sustained(steady()) == (True, "")


def test_a_lag_left_at_the_end_of_over_two_seconds_worth_is_not_sustained():
    lags = [*steady()[:-1], Sample(110.0, {"persist": 25_000, "alert": 2_000})]
    ok, why = sustained(lags)
    assert not ok
    assert why.startswith("persist: lag 25,000 at the end")


def test_a_lag_growing_by_a_tenth_of_the_rate_is_not_sustained_even_if_still_small():
    lags = samples(*[(500, 1_500 * i) for i in range(11)])  # alert falls 15% behind
    ok, why = sustained(lags)
    assert not ok
    assert why.startswith("alert: lag grew 1,500/s")


def test_publish_must_acknowledge_every_event_on_time_and_persist_store_them():
    assert sustained(steady(), acked=99_000) == (
        False,
        "publish acknowledged 99,000 of 100,000 events",
    )
    ok, why = sustained(steady(), late_s=3.0)
    assert not ok
    assert "fell behind" in why
    assert sustained(steady(), late_s=0.9)[0]  # within a second is on time
    ok, why = sustained(steady(), stored=99_999)
    assert not ok
    assert why == "persist stored 99,999 of 100,000 events"


def test_the_search_steps_up_while_sustained_and_down_while_not():
    assert next_rate({10_000: True}) == 15_000
    assert next_rate({10_000: False}) == 6_000
    assert next_rate({10_000: False, 6_000: False}) == 3_600


def test_between_a_sustained_and_a_failed_rate_the_search_bisects_until_close():
    assert next_rate({10_000: True, 15_000: False}) == 12_200  # sqrt(10,000 * 15,000)
    assert next_rate({10_000: True, 15_000: False, 12_200: True}) == 13_500
    assert next_rate({10_000: True, 11_000: False}) is None  # within 15%
    # A failure below the best success is noise: the search goes on above it.
    assert next_rate({10_000: True, 8_000: False}) == 15_000


def test_the_search_stops_at_rates_it_tried_or_too_low_to_mean_anything():
    assert next_rate({100: False}) is None
    assert next_rate({200: False, 100: True}) is None


def test_the_search_starts_at_a_share_of_the_slowest_stage_measured_alone():
    assert start_rate({"3b": 40_000.0, "5": 14_365.0}, 0.5, 5_000) == 7_200
    assert start_rate({}, 0.5, 5_000) == 5_000
    assert start_rate({"5": 10.0}, 0.5, 5_000) == 100


def test_requests_carry_a_tenth_of_the_rate_within_bounds():
    assert per_request(5_000) == 500
    assert per_request(500) == 100
    assert per_request(80_000) == 1_000


def run_at(rate: int, answer_s: float = 0.1, lags: list[Sample] | None = None) -> Run:
    """A run of 10 s at ``rate``: 10 requests of ``rate`` events, each answered in ``answer_s``."""
    sent = [Sent(i, i, i + answer_s, 202, ("x",) * rate) for i in range(10)]
    return Run(rate, 10.0, rate * 10, sent, lags or steady(), rate * 10, 0.5, {"kafka": 0.3})


def test_a_run_acknowledges_at_the_offered_rate_unless_its_last_answer_is_late():
    assert run_at(10_000).late_s == pytest.approx(-0.9)
    assert run_at(10_000).acked_rate == pytest.approx(10_000)
    late = run_at(10_000, answer_s=3.0)  # the last answer 2 s after the schedule's end
    assert late.late_s == pytest.approx(2.0)
    assert late.acked_rate == pytest.approx(100_000 / 12)
    assert "fell behind" in late.verdict.why


def test_the_row_is_the_median_run_against_l1_with_every_run_in_its_settings():
    runs = [run_at(9_000), run_at(11_000), run_at(10_000)]
    found = row(FULL, 40_000.0, [run_at(12_000)], runs, {"connections": 8})
    assert found.key == "8"
    assert found.figure == pytest.approx(10_000)
    assert found.limit == 40_000.0
    assert [t.met for t in found.targets] == [True, True]  # ≥ 25% of L1; lag bounded
    assert found.settings["runs_offered"] == [9_000, 11_000, 10_000]
    assert found.settings["runs_sustained"] == ["sustained"] * 3
    assert found.settings["search"] == {"12000": "sustained"}
    assert found.settings["cpu_cores"] == {"kafka": 0.3}
    assert found.detail["offered_events_per_s"] == 10_000
    assert found.detail["persist_lag_max"] == 1_500
    assert found.detail["alert_lag_end"] == 2_000
    assert found.detail["rows_stored"] == 100_000
    assert found.detail["publish_p99_ms"] == pytest.approx(100.0)


def test_a_row_with_an_unsustained_run_or_under_a_quarter_of_l1_misses_its_targets():
    climbing = samples(*[(0, 3_000 * i) for i in range(11)])
    runs = [run_at(9_000), run_at(10_000, lags=climbing), run_at(11_000)]
    found = row(FULL, 100_000.0, [], runs, {})
    assert [t.met for t in found.targets] == [False, False]
    assert found.settings["runs_sustained"][1].startswith("alert: lag")


def pipeline_of(
    capacity: int, flaky: int = 0
) -> tuple[list[tuple[int, float]], Callable[[int, float], Run]]:
    """A fake ``offered``: sustained up to ``capacity`` events/s (the first
    ``flaky`` runs fail whatever the rate); and the (rate, seconds) it was offered."""
    offers: list[tuple[int, float]] = []

    def offered(rate: int, seconds: float) -> Run:
        offers.append((rate, seconds))
        behind = rate > capacity or len(offers) <= flaky
        return run_at(rate, lags=samples(*[(0, 3_000 * i) for i in range(11)]) if behind else None)

    return offers, offered


def test_the_search_finds_the_capacity_within_its_precision_in_bounded_runs():
    offers, offered = pipeline_of(capacity=12_000)
    runs, rate = search(offered, 10_000, count=5, seconds=8.0)
    # 11,000 sustained and 12,200 not are within 15%: done after four runs.
    assert [r for r, _ in offers] == [10_000, 15_000, 12_200, 11_000]
    assert {seconds for _, seconds in offers} == {8.0}
    assert len(runs) == 4
    assert rate == 11_000
    offers, offered = pipeline_of(capacity=12_000)
    assert search(offered, 10_000, count=2, seconds=8.0)[1] == 10_000  # bounded in count


def test_a_search_that_sustains_nothing_goes_on_a_step_below_the_lowest_rate_tried():
    _, offered = pipeline_of(capacity=0)
    runs, rate = search(offered, 10_000, count=3, seconds=8.0)
    assert [r.rate for r in runs] == [10_000, 6_000, 3_600]
    assert rate == 2_200


def test_timed_runs_repeat_a_run_that_was_not_sustained_a_step_lower_a_bounded_number_of_times():
    offers, offered = pipeline_of(capacity=20_000, flaky=1)
    runs = timed_runs(offered, 10_000, count=3, seconds=30.0)
    assert [r.rate for r in runs] == [8_500, 8_500, 8_500]
    assert [r for r, _ in offers] == [10_000, 8_500, 8_500, 8_500]
    _, offered = pipeline_of(capacity=0)
    runs = timed_runs(offered, 10_000, count=3, seconds=30.0)
    assert [r.rate for r in runs] == [7_200, 7_200, 7_200]  # after two retries, kept
    assert not any(r.verdict.sustained for r in runs)
