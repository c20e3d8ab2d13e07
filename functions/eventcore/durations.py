"""Durations as Prometheus writes them: ``500ms``, ``10s``, ``1m30s``, ``2h``, ``1d``."""

from __future__ import annotations

import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
# Units from the largest down, each at most once, as Prometheus' model.ParseDuration.
_DURATION = re.compile(
    r"(?:(?P<w>\d+)w)?(?:(?P<d>\d+)d)?(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?"
    r"(?:(?P<s>\d+)s)?(?:(?P<ms>\d+)ms)?"
)
_LARGEST_S = 10 * 365 * 86400.0


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError saying the form when it is not a duration."""
    match = _DURATION.fullmatch(text.strip())
    if not text.strip() or match is None:
        raise ValueError(f"{text!r} is not a duration such as 30s, 5m or 1h30m")
    seconds = sum(int(count) * _UNITS[unit] for unit, count in match.groupdict().items() if count)
    if seconds > _LARGEST_S:
        raise ValueError(f"{text!r} is longer than ten years")
    return seconds


def format_duration(seconds: float) -> str:
    """The shortest Prometheus form of ``seconds`` (whole milliseconds)."""
    left = round(seconds * 1000)
    if left == 0:
        return "0s"
    parts = []
    for unit, size in (("w", 604_800_000), ("d", 86_400_000), ("h", 3_600_000), ("m", 60_000)):
        count, left = divmod(left, size)
        if count:
            parts.append(f"{count}{unit}")
    whole, millis = divmod(left, 1000)
    if whole:
        parts.append(f"{whole}s")
    if millis:
        parts.append(f"{millis}ms")
    return "".join(parts)
