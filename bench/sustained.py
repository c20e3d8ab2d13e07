"""Row 8's decisions, pure: whether a run at an offered rate was sustained, and
which rate to offer next.

A run is *sustained* when every part kept up with the rate offered:

- publish: it acknowledged every event offered (202: on Kafka), its last
  answer came at most ``LATE_S`` (or a tenth of the run) after the schedule
  ended, and persist stored as many rows as publish acknowledged;
- persist and alert: each consumer group's lag (records on the events topic it
  has not committed, sampled about every second while publishing) was at most
  ``END_LAG_S`` seconds' worth of the offered rate at the end, and did not grow
  over the second half by more than ``GROWTH_SHARE`` of the offered rate (a
  least-squares slope, so one slow batch does not decide).

The search offers a rate, then steps up by ``STEP_UP`` while runs are
sustained and down by ``STEP_DOWN`` while they are not; once it has one of
each, it tries between them (geometric mean) until they are within
``PRECISION`` of each other.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

END_LAG_S = 2.0
GROWTH_SHARE = 0.1
LATE_S = 1.0
STEP_UP = 1.5
STEP_DOWN = 0.6
PRECISION = 0.15
# Offered rates are rounded to this many events/s, and never go below it.
ROUND = 100


@dataclass(frozen=True)
class Sample:
    """Each consumer group's lag (records) at one wall time (epoch seconds)."""

    at: float
    lags: Mapping[str, int]


@dataclass(frozen=True)
class Verdict:
    """Whether a run was sustained and, when it was not, why (the first reason)."""

    sustained: bool
    why: str = ""


def growth(samples: Sequence[Sample], group: str) -> float:
    """How fast ``group``'s lag grew over the second half of ``samples``, in
    records per second (least squares); 0 with fewer than two samples there."""
    if len(samples) < 2:
        return 0.0
    middle = (samples[0].at + samples[-1].at) / 2
    half = [(s.at, float(s.lags[group])) for s in samples if s.at >= middle]
    if len(half) < 2:
        return 0.0
    mean_t = sum(t for t, _ in half) / len(half)
    mean_lag = sum(lag for _, lag in half) / len(half)
    spread = sum((t - mean_t) ** 2 for t, _ in half)
    if spread == 0:
        return 0.0
    return sum((t - mean_t) * (lag - mean_lag) for t, lag in half) / spread


def judge(
    rate: float,
    seconds: float,
    offered: int,
    acked: int,
    late_s: float,
    stored: int,
    samples: Sequence[Sample],
) -> Verdict:
    """Whether the run was sustained (see the module's docstring). ``late_s`` is
    how long after the schedule's end publish's last answer came."""
    if acked < offered:
        return Verdict(False, f"publish acknowledged {acked:,} of {offered:,} events")
    if late_s > max(LATE_S, seconds / 10):
        return Verdict(False, f"publish fell behind: its last answer came {late_s:.1f} s late")
    if stored < acked:
        return Verdict(False, f"persist stored {stored:,} of {acked:,} events")
    if samples:
        for group, end in samples[-1].lags.items():
            if end > END_LAG_S * rate:
                return Verdict(False, f"{group}: lag {end:,} at the end (> {END_LAG_S:g} s' worth)")
            grew = growth(samples, group)
            if grew > GROWTH_SHARE * rate:
                return Verdict(False, f"{group}: lag grew {grew:,.0f}/s over the second half")
    return Verdict(True)


def next_rate(tried: Mapping[int, bool]) -> int | None:
    """The next rate to offer after the runs ``tried`` (rate -> sustained), or
    None when the search is done: the bracket is narrow enough, or the next
    rate was tried already or is below ``ROUND``."""
    ok = [rate for rate, sustained in tried.items() if sustained]
    failed = [rate for rate, sustained in tried.items() if not sustained]
    if not ok:
        following = min(failed) * STEP_DOWN
    else:
        best = max(ok)
        above = [rate for rate in failed if rate > best]
        if not above:
            following = best * STEP_UP
        elif min(above) <= best * (1 + PRECISION):
            return None
        else:
            following = math.sqrt(best * min(above))
    found = round(following / ROUND) * ROUND
    return None if found < ROUND or found in tried else found


def start_rate(figures: Mapping[str, float], share: float, default: int) -> int:
    """Where the search starts: ``share`` of the slowest of the stages measured
    alone in this run (``figures``, e.g. rows 3b and 5), else ``default``."""
    if not figures:
        return default
    return max(ROUND, round(share * min(figures.values()) / ROUND) * ROUND)
