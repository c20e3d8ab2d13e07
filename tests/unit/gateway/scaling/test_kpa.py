"""Knative's KPA with synthetic metrics: the formula, panic mode, the rates,
scale-down delay, bounds, activation and scale to zero."""

import math
from dataclasses import replace

import pytest

from gateway.scaling.config import ClusterDefaults, ScalingSpec, resolve
from gateway.scaling.kpa import Autoscaler, Lifecycle, Observation, Observer
from gateway.scaling.windows import Meter, Sample, Window


def spec(**annotations: str) -> ScalingSpec:
    given = {f"autoscaling.knative.dev/{k.replace('_', '-')}": v for k, v in annotations.items()}
    return resolve(given, ClusterDefaults())


def load(stable: float, panic: float | None = None) -> Observation:
    panic = stable if panic is None else panic
    return Observation(stable, panic, stable, panic, stable, panic)


def test_desired_is_the_stable_load_over_the_target_rounded_up():
    rps = spec(metric="rps", target="100")  # 70 per instance at 70% utilisation
    assert rps.target == pytest.approx(70)
    for observed in (1, 69.9, 70, 70.1, 139, 141, 350, 700):
        autoscaler = Autoscaler(rps)
        ready = max(1, math.ceil(observed / 70))  # already there: no panic
        assert autoscaler.scale(0, load(observed), ready).desired == math.ceil(observed / 70)


def test_no_load_asks_for_zero_but_never_below_the_scale_down_rate():
    autoscaler = Autoscaler(spec(metric="rps", target="10"))
    assert autoscaler.scale(0, load(0), ready=1).desired == 0
    assert autoscaler.scale(2, load(0), ready=8).desired == 4  # floor(8 / 2)
    assert autoscaler.scale(4, load(0), ready=5).desired == 2


def test_scale_up_is_capped_by_the_scale_up_rate():
    slow = replace(spec(metric="rps", target="10"), max_scale_up_rate=2.0)
    assert Autoscaler(slow).scale(0, load(1000, 0), ready=3).desired == 6


def test_a_burst_panics_and_panic_never_scales_down_until_a_stable_window_is_calm():
    autoscaler = Autoscaler(spec(metric="concurrency", window="6s"))  # target 0.7 per instance
    calm = autoscaler.scale(0, load(0.5), ready=1)
    assert (calm.desired, calm.panicking) == (1, False)
    # The panic window sees 5 calls at once; the stable window has not caught up.
    burst = autoscaler.scale(2, load(0.9, 5), ready=1)
    assert burst.panicking
    assert burst.desired == math.ceil(5 / 0.7)
    # Load falls: still panicking, so the count holds.
    held = autoscaler.scale(4, load(0.9, 0.5), ready=8)
    assert (held.desired, held.panicking) == (8, True)
    # A stable window (6 s) after the last over-threshold tick: panic ends.
    after = autoscaler.scale(8.5, load(0.5, 0.5), ready=8)
    assert not after.panicking
    assert after.desired == 4  # the scale-down rate from 8 ready


def test_panic_needs_the_panic_load_at_the_threshold_of_what_is_ready():
    autoscaler = Autoscaler(spec(metric="rps", target="10"))  # 7 per instance, threshold 200%
    # 4 ready, panic wish ceil(55/7) = 8 = 2.0 x ready: panic
    assert autoscaler.scale(0, load(20, 55), ready=4).panicking
    autoscaler = Autoscaler(spec(metric="rps", target="10"))
    # 4 ready, panic wish ceil(48/7) = 7 < 8: no panic, the stable load decides
    decision = autoscaler.scale(0, load(20, 48), ready=4)
    assert (decision.panicking, decision.desired) == (False, 3)


def test_scale_down_delay_holds_the_highest_recent_wish():
    autoscaler = Autoscaler(spec(metric="rps", target="10", scale_down_delay="10s"))
    assert autoscaler.scale(0, load(35), ready=5).desired == 5
    assert autoscaler.scale(4, load(7), ready=5).desired == 5
    assert autoscaler.scale(8, load(7), ready=5).desired == 5
    # 10 s after the wish for 5, the highest wish since (2: floor(5 / 2), the
    # scale-down rate's bound on 1) takes over.
    assert autoscaler.scale(14, load(7), ready=5).desired == 2
    assert autoscaler.scale(30, load(7), ready=2).desired == 1


def test_activation_scale_raises_any_nonzero_wish():
    autoscaler = Autoscaler(spec(metric="rps", target="10", activation_scale="3"))
    assert autoscaler.scale(0, load(1), ready=1).desired == 3
    assert autoscaler.scale(2, load(0), ready=1).desired == 0


def test_excess_burst_capacity_follows_knative():
    autoscaler = Autoscaler(spec(metric="concurrency", target_burst_capacity="2"))
    # floor(ready * total - TBC - panic load) = floor(3 * 1 - 2 - 0.5)
    assert autoscaler.scale(0, load(0.5), ready=3).excess_burst_capacity == 0
    unlimited = Autoscaler(spec(metric="concurrency", target_burst_capacity="-1"))
    assert unlimited.scale(0, load(0.5), ready=3).excess_burst_capacity == -1


def test_lifecycle_holds_the_initial_scale_until_reached_then_applies_bounds():
    life = Lifecycle(spec(initial_scale="3", max_scale="5"), now=0, initial=True)
    assert life.want == 3
    assert life.apply(2, desired=1, ready=2) == 3  # not reached yet
    assert life.apply(4, desired=1, ready=3) == 1  # reached: the decision counts
    assert life.apply(6, desired=9, ready=1) == 5  # max-scale
    floor = Lifecycle(spec(min_scale="2"), now=0, initial=True)
    assert floor.apply(2, desired=0, ready=1) == 2


def test_scale_to_zero_waits_a_stable_window_active_then_the_grace_period():
    s = replace(spec(window="6s"), scale_to_zero_grace_s=4.0)
    life = Lifecycle(s, now=0, initial=True)
    assert life.apply(2, desired=0, ready=1) == 1  # active for less than 6 s
    assert life.apply(6, desired=0, ready=1) == 1  # inactive now; grace runs
    assert life.apply(8, desired=0, ready=1) == 1
    assert life.apply(10, desired=0, ready=1) == 0
    assert life.apply(12, desired=0, ready=0) == 0


def test_load_during_the_grace_period_keeps_the_function():
    s = replace(spec(window="6s"), scale_to_zero_grace_s=4.0)
    life = Lifecycle(s, now=0, initial=True)
    life.apply(6, desired=0, ready=1)
    assert life.apply(8, desired=1, ready=1) == 1
    assert life.apply(9, desired=0, ready=1) == 1  # a new grace period
    assert life.apply(12, desired=0, ready=1) == 1
    assert life.apply(13, desired=0, ready=1) == 0


def test_without_scale_to_zero_the_floor_is_one():
    s = replace(spec(window="6s"), enable_scale_to_zero=False)
    life = Lifecycle(s, now=0, initial=True)
    assert life.apply(100, desired=0, ready=1) == 1


def test_a_call_at_zero_activates_at_once_and_starts_a_new_stable_window():
    s = replace(spec(window="6s", activation_scale="2"), scale_to_zero_grace_s=0.0)
    life = Lifecycle(s, now=0, initial=False)  # created through the API: starts at zero
    assert life.want == 0
    assert life.activate(50) == 2
    assert life.apply(52, desired=0, ready=2) == 1  # active for under a stable window
    assert life.apply(56, desired=0, ready=1) == 0


def test_no_data_keeps_the_current_count():
    life = Lifecycle(spec(initial_scale="2"), now=0, initial=True)
    assert life.apply(2, desired=None, ready=2) == 2


def test_the_meter_weights_concurrency_by_time_and_counts_arrivals():
    meter = Meter(now=0)
    meter.begin(0.0)
    meter.begin(0.0)
    meter.end(0.5)
    meter.end(0.5)
    meter.begin(0.75)
    sample = meter.sample(1.0)
    assert sample is not None
    assert sample.concurrency == pytest.approx((2 * 0.5 + 1 * 0.25) / 1.0)
    assert sample.rps == pytest.approx(3.0)
    later = meter.sample(2.0)
    assert later is not None
    assert (later.concurrency, later.rps) == (pytest.approx(1.0), 0)


def test_window_averages_only_time_since_the_first_sample_and_counts_gaps_as_zero():
    window = Window(10)
    assert window.average(5, "rps") is None
    window.add(Sample(100, 101, 4, 40))
    window.add(Sample(101, 102, 2, 20))
    assert window.average(102, "rps") == pytest.approx(30)
    # Nothing sampled for 2 s: those seconds count as zero.
    assert window.average(104, "rps") == pytest.approx(60 / 4)
    # Past the window, old samples fall out.
    window.add(Sample(111, 112, 1, 10))
    assert window.average(112, "rps") == pytest.approx(10 / 10)


def test_a_ramp_of_synthetic_load_follows_the_formula_up_and_down():
    s = replace(spec(metric="rps", target="10", window="6s"), scale_to_zero_grace_s=2.0)
    observer, autoscaler, life = Observer(s), Autoscaler(s), Lifecycle(s, 0, initial=True)
    ready, counts = 1, []
    rates = [7] * 8 + [21] * 8 + [42] * 10 + [14] * 12 + [0] * 30
    for second, rps in enumerate(rates, start=1):
        observer.add(Sample(second - 1, second, rps * 0.01, rps))
        if second % 2 == 0:  # Knative's 2 s tick
            seen = observer.observe(second)
            assert seen is not None
            decision = autoscaler.scale(second, seen, ready)
            ready = life.apply(second, decision.desired, ready)  # instances start at once
            counts.append((second, ready, decision.panicking))
    by_second = {second: count for second, count, _ in counts}
    assert by_second[8] == 1  # 7 rps at 7 per instance
    assert by_second[16] == 3  # 21 rps, a full window of it
    assert by_second[26] == 6  # 42 rps
    assert by_second[38] >= 2  # falling back, at most halving each tick
    assert by_second[68] == 0  # zero after a calm window and the grace period
    assert any(panicking for _, _, panicking in counts)  # 7 -> 21 rps in one second is a burst
