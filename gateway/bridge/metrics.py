"""Prometheus metrics of the bridge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Histogram


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "eventfn_bridge_records",
            "Records finished, by outcome (delivered or dead_lettered).",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "eventfn_bridge_attempts",
            "Batch POSTs, by result (ok, partial, failed).",
            ["function", "result"],
            registry=self.registry,
        )
        self.post_seconds = Histogram(
            "eventfn_bridge_post_seconds",
            "Round trip of one batch POST.",
            ["function"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
