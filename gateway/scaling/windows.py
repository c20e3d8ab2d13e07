"""The metric side of the autoscaler: what a pool measures, and the windows
Knative averages it over.

A pool reports each call's start and end to a :class:`Meter`; every second or
so the meter is read into a :class:`Sample` (average concurrency over the
period, requests per second), and the samples go into a :class:`Window`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """A period's averages: ``concurrency`` (calls under way or waiting, time
    weighted) and ``rps`` (calls that arrived, per second)."""

    start: float
    end: float
    concurrency: float
    rps: float


class Meter:
    """Counts calls as they come and go; time is passed in, so it is pure."""

    def __init__(self, now: float) -> None:
        self.in_flight = 0
        self._since = now
        self._changed = now
        self._area = 0.0  # integral of in_flight over time since _since
        self._arrivals = 0

    def begin(self, now: float) -> None:
        self._advance(now)
        self.in_flight += 1
        self._arrivals += 1

    def end(self, now: float) -> None:
        self._advance(now)
        self.in_flight -= 1

    def sample(self, now: float) -> Sample | None:
        """The averages since the last sample (None if no time passed)."""
        self._advance(now)
        elapsed = now - self._since
        if elapsed <= 0:
            return None
        sample = Sample(self._since, now, self._area / elapsed, self._arrivals / elapsed)
        self._since, self._area, self._arrivals = now, 0.0, 0
        return sample

    def _advance(self, now: float) -> None:
        self._area += self.in_flight * max(0.0, now - self._changed)
        self._changed = now


class Window:
    """Average of samples over the last ``seconds``, Knative's WindowAverage:
    time without samples inside the window counts as zero, and only time since
    the first sample counts (a new function is not averaged with an empty past)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._samples: deque[Sample] = deque()
        self._first: float | None = None

    def add(self, sample: Sample) -> None:
        if self._first is None:
            self._first = sample.start
        self._samples.append(sample)

    def average(self, now: float, field: str) -> float | None:
        """``field`` ("concurrency" or "rps") over the window; None before any sample."""
        if self._first is None:
            return None
        start = max(now - self.seconds, self._first)
        while self._samples and self._samples[0].end <= now - self.seconds:
            self._samples.popleft()
        span = now - start
        if span <= 0:
            return 0.0
        total = 0.0
        for sample in self._samples:
            overlap = min(sample.end, now) - max(sample.start, start)
            if overlap > 0:
                total += getattr(sample, field) * overlap
        return total / span
