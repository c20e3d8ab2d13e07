"""Prometheus metrics of the bridge."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class BridgeMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.records = Counter(
            "eventfn_bridge_records",
            "Records by outcome: delivered, dead_lettered, or retried (once per retry).",
            ["function", "outcome"],
            registry=self.registry,
        )
        self.attempts = Counter(
            "eventfn_bridge_attempts",
            "Batch POSTs, by result (ok, partial, failed).",
            ["function", "result"],
            registry=self.registry,
        )
        self.counts = Counter(
            "eventfn_bridge_function_counts",
            "What the functions' answers counted (persist: inserted, duplicates;"
            " alert: evaluated, firing, resolved, late), summed.",
            ["function", "count"],
            registry=self.registry,
        )
        self.held = Gauge(
            "eventfn_bridge_held_records",
            "Records taken from Kafka and not finished: all (in_flight), and those"
            " waiting for a retry or behind one of their key (waiting).",
            ["function", "state"],
            registry=self.registry,
        )
        self.post_seconds = Histogram(
            "eventfn_bridge_post_seconds",
            "Round trip of one batch POST.",
            ["function"],
            buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
            registry=self.registry,
        )
