"""The functions' call times, from the gateway's /metrics: how long each
function's calls took between two scrapes (where a row's time went)."""

from __future__ import annotations

from collections.abc import Mapping

import httpx

_FUNCTIONS = ("publish", "persist", "alert")


def histogram_totals(text: str, name: str) -> dict[str, tuple[float, float]]:
    """From Prometheus text: each ``function`` label's (sum, count) of histogram ``name``."""
    totals: dict[str, list[float]] = {}
    for line in text.splitlines():
        for suffix, index in (("_sum{", 0), ("_count{", 1)):
            if line.startswith(name + suffix):
                labels, _, value = line[len(name) + len(suffix) :].rpartition("} ")
                function = (
                    dict(part.split("=", 1) for part in labels.split(",") if "=" in part)
                    .get("function", "")
                    .strip('"')
                )
                totals.setdefault(function, [0.0, 0.0])[index] = float(value)
    return {function: (pair[0], pair[1]) for function, pair in totals.items()}


def call_means(
    before: Mapping[str, tuple[float, float]], after: Mapping[str, tuple[float, float]]
) -> dict[str, float]:
    """Calls and mean call time (ms) per function between two scrapes."""
    detail = {}
    for function, (total, count) in after.items():
        old_total, old_count = before.get(function, (0.0, 0.0))
        calls = count - old_count
        if calls > 0:
            detail[f"{function}_calls"] = calls
            detail[f"{function}_call_mean_ms"] = (total - old_total) / calls * 1000
    return detail


def gateway_calls(gateway_url: str) -> dict[str, tuple[float, float]]:
    """The gateway's call-time histogram totals, per function."""
    text = httpx.get(f"{gateway_url}/metrics", timeout=10).text
    totals = histogram_totals(text, "eventfn_function_call_seconds")
    return {name: totals[name] for name in _FUNCTIONS if name in totals}
