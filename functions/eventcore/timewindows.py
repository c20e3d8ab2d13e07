"""Event-time windows of window rules: which windows an event falls in, when a
window closes, and what its aggregate is.

Windows are aligned to the Unix epoch in steps of ``every`` (tumbling when
``every`` equals ``size``): an event at time t falls in each window
[start, start + size) with start a multiple of ``every`` and
t - size < start <= t. A window closes once the clock passes its end plus
the rule's ``lateness``; an event whose windows have all closed is late: it
is counted, and applied to none.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache

from eventcore.rules import Aggregate, Rule, Window

_MS = timedelta(milliseconds=1)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LAST = datetime.max.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Span:
    """One window: [start, end)."""

    start: datetime
    end: datetime


@dataclass(frozen=True)
class Tally:
    """What a window holds so far: enough to give every aggregate."""

    count: int = 0
    total: float = 0.0
    low: float | None = None
    high: float | None = None

    def add(self, number: float | None) -> Tally:
        if number is None:
            return Tally(self.count + 1, self.total, self.low, self.high)
        return Tally(
            self.count + 1,
            self.total + number,
            number if self.low is None else min(self.low, number),
            number if self.high is None else max(self.high, number),
        )


def spans(window: Window, at: datetime) -> list[Span]:
    """Every window an event at ``at`` falls in, oldest first."""
    size, hop = _ms(window.size), _ms(window.hop)
    moment = (at - _EPOCH) // _MS
    last = moment - moment % hop
    starts = reversed(range(last, moment - size, -hop))
    return [span for start in starts if (span := _span(start, size)) is not None]


@lru_cache(maxsize=4096)
def _span(start: int, size: int) -> Span | None:
    # A batch's events fall in the same few windows: each is made once.
    try:
        return Span(_EPOCH + start * _MS, _EPOCH + (start + size) * _MS)
    except OverflowError:
        return None  # a window ending past the year 9999 cannot be kept: none for it


def closes_at(rule: Rule, span: Span) -> datetime:
    """When the window stops taking events and gives its result."""
    try:
        return span.end + timedelta(seconds=rule.lateness)
    except OverflowError:
        return _LAST


def open_spans(rule: Rule, at: datetime, now: datetime) -> list[Span]:
    """The windows an event at ``at`` still counts in at ``now`` (none: it is
    late, or the rule has no window)."""
    if rule.window is None:
        return []
    return [span for span in spans(rule.window, at) if closes_at(rule, span) > now]


def aggregate(kind: Aggregate, tally: Tally, window: Window) -> float:
    """A window's ``kind`` of aggregate over its tally."""
    if kind == "count":
        return float(tally.count)
    if kind == "rate":
        return tally.count / window.size
    if kind == "sum":
        return tally.total
    if kind == "avg":
        return tally.total / tally.count if tally.count else 0.0
    if kind == "min":
        return tally.low if tally.low is not None else 0.0
    return tally.high if tally.high is not None else 0.0


def _ms(seconds: float) -> int:
    return max(1, round(seconds * 1000))
