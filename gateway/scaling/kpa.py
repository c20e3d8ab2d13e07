"""Knative's KPA: how many instances a function wants, from its observed load.

:class:`Autoscaler` is Knative Serving's ``autoscaler.Scale`` (stable and panic
windows, panic mode, the scale-up and scale-down rates, scale-down delay);
:class:`Lifecycle` is what the KPA reconciler does with the result (min-scale,
max-scale, initial scale, activation from zero, scale to zero after the grace
period). Both are pure: time and observations are passed in, so tests drive
them with synthetic metrics.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass

from gateway.scaling.config import ScalingSpec
from gateway.scaling.windows import Sample, Window

# Knative keeps the scale-down-delay maximum in 2-second buckets.
_DELAY_GRANULARITY_S = 2.0


@dataclass(frozen=True)
class Observation:
    """The load averaged over both windows, in the function's metric and both kinds."""

    stable: float
    panic: float
    stable_rps: float
    panic_rps: float
    stable_concurrency: float
    panic_concurrency: float


@dataclass(frozen=True)
class Decision:
    """One tick's result: ``desired`` is the autoscaler's wish before bounds,
    for ``ready`` instances."""

    desired: int
    ready: int
    panicking: bool
    excess_burst_capacity: float
    observation: Observation


class Observer:
    """The stable and panic windows of one function."""

    def __init__(self, spec: ScalingSpec) -> None:
        self._metric = spec.metric
        self._stable = Window(spec.stable_window_s)
        self._panic = Window(spec.panic_window_s)

    def add(self, sample: Sample) -> None:
        self._stable.add(sample)
        self._panic.add(sample)

    def observe(self, now: float) -> Observation | None:
        """None until the first sample: no data, no decision (as in Knative)."""
        values = {}
        for name, window in (("stable", self._stable), ("panic", self._panic)):
            for field in ("rps", "concurrency"):
                value = window.average(now, field)
                if value is None:
                    return None
                values[f"{name}_{field}"] = value
        return Observation(
            stable=values[f"stable_{self._metric}"],
            panic=values[f"panic_{self._metric}"],
            **values,
        )


class Autoscaler:
    """Knative's ``Scale()``: the desired instance count from one observation."""

    def __init__(self, spec: ScalingSpec) -> None:
        self.spec = spec
        self._panic_since: float | None = None
        self._max_panic = 0
        # (bucket start, highest desired in it), for scale-down-delay
        self._recent: deque[tuple[float, int]] = deque()

    @property
    def panicking(self) -> bool:
        return self._panic_since is not None

    def scale(self, now: float, seen: Observation, ready: int) -> Decision:
        spec = self.spec
        ready_for_rates = max(1, ready)
        max_up = math.ceil(spec.max_scale_up_rate * ready_for_rates)
        max_down = math.floor(ready_for_rates / spec.max_scale_down_rate)
        stable_wish = math.ceil(_clean(seen.stable / spec.target))
        panic_wish = math.ceil(_clean(seen.panic / spec.target))
        desired_stable = min(max(stable_wish, max_down), max_up)
        desired_panic = min(max(panic_wish, max_down), max_up)
        if spec.activation_scale > 1:
            if stable_wish > 0:
                desired_stable = max(desired_stable, spec.activation_scale)
            if panic_wish > 0:
                desired_panic = max(desired_panic, spec.activation_scale)

        over_threshold = panic_wish / ready_for_rates >= spec.panic_threshold
        if over_threshold:
            self._panic_since = now  # start panicking, or panic for longer
        elif self._panic_since is not None and self._panic_since + spec.stable_window_s <= now:
            self._panic_since = None
            self._max_panic = 0

        desired = desired_stable
        if self._panic_since is not None:
            # In panic, never scale down: hold the highest count seen.
            desired = max(desired, desired_panic, self._max_panic)
            self._max_panic = desired

        if spec.scale_down_delay_s > 0:
            desired = self._delayed(now, desired)

        if spec.target_burst_capacity == 0:
            burst = 0.0
        elif spec.target_burst_capacity > 0:
            burst = math.floor(ready * spec.total - spec.target_burst_capacity - seen.panic)
        else:
            burst = -1.0
        return Decision(desired, ready, self.panicking, burst, seen)

    def _delayed(self, now: float, desired: int) -> int:
        """The highest desired count over the last scale-down-delay."""
        bucket = math.floor(now / _DELAY_GRANULARITY_S) * _DELAY_GRANULARITY_S
        if self._recent and self._recent[-1][0] == bucket:
            self._recent[-1] = (bucket, max(self._recent[-1][1], desired))
        else:
            self._recent.append((bucket, desired))
        while (
            self._recent
            and self._recent[0][0] <= now - self.spec.scale_down_delay_s - _DELAY_GRANULARITY_S
        ):
            self._recent.popleft()
        return max(value for _, value in self._recent)


class Lifecycle:
    """What the pool should run, from the autoscaler's wish: the bounds, the
    initial scale, activation from zero and scale to zero after the grace
    period (Knative's KPA reconciler and its scale-to-zero handling)."""

    def __init__(self, spec: ScalingSpec, now: float, *, initial: bool) -> None:
        """``initial``: the function starts at its initial scale (a deployed
        revision); otherwise it starts at zero and its first call activates it
        (a function created through the API, which Fn starts on demand)."""
        self.spec = spec
        self.want = spec.initial_scale if initial else 0
        self._initialised = not initial or spec.initial_scale <= 1
        self._active_since: float | None = now if self.want > 0 else None
        self._inactive_since: float | None = None

    @property
    def minimum(self) -> int:
        """The fewest instances allowed now (min-scale; initial scale until reached)."""
        if self._initialised:
            return self.spec.min_scale
        return max(self.spec.min_scale, self.spec.initial_scale)

    def activate(self, now: float) -> int:
        """A call arrived with no instance to run it: scale from zero now, as
        Knative's activator does, without waiting for the next tick."""
        if self.want == 0:
            self.want = max(1, self.spec.activation_scale, self.spec.min_scale)
            self._active_since = now
        self._inactive_since = None
        return self.want

    def apply(self, now: float, desired: int | None, ready: int) -> int:
        """The count the pool should run; ``desired`` is the autoscaler's
        decision (None when it has no data, which keeps the current count)."""
        spec = self.spec
        if not self._initialised and ready >= spec.initial_scale:
            self._initialised = True
        if desired is None:
            self.want = max(self.want, self.minimum)
            return self.want
        wanted = max(desired, self.minimum)
        if spec.max_scale:
            wanted = min(wanted, spec.max_scale)
        if wanted > 0:
            if self.want == 0:
                self._active_since = now
            self._inactive_since = None
            self.want = wanted
            return self.want
        self.want = self._towards_zero(now)
        return self.want

    def _towards_zero(self, now: float) -> int:
        spec = self.spec
        if self.want == 0:
            return 0
        if not spec.enable_scale_to_zero:
            return 1
        # Active for a whole stable window first: a function just started or
        # activated is not judged on a window it was not running for.
        if self._active_since is not None and now - self._active_since < spec.stable_window_s:
            return 1
        if self._inactive_since is None:
            self._inactive_since = now
        if now - self._inactive_since < spec.scale_to_zero_grace_s:
            return 1
        self._active_since = None
        return 0


def _clean(value: float) -> float:
    # 0.30000000000000004 / 0.1 must not become 4 instances.
    return round(value, 9)
