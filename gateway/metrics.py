"""Prometheus metrics of the gateway: calls, latencies and the pools' state."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from gateway.pool import FunctionPool

_LATENCY_BUCKETS = (
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
)


class GatewayMetrics:
    """The metrics of one gateway, in a registry of their own (one per app)."""

    def __init__(self, pools: Callable[[], Iterable[FunctionPool]]) -> None:
        self.registry = CollectorRegistry()
        self.calls = Counter(
            "eventfn_function_calls",
            "Function calls by outcome (the status the client got).",
            ["function", "status"],
            registry=self.registry,
        )
        self.call_seconds = Histogram(
            "eventfn_function_call_seconds",
            "Time from the gateway handing a call to an instance to its answer.",
            ["function"],
            buckets=_LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.registry.register(_PoolCollector(pools))


class _PoolCollector(Collector):
    """Reads the pools at scrape time, so the numbers never drift from the truth."""

    def __init__(self, pools: Callable[[], Iterable[FunctionPool]]) -> None:
        self._pools = pools

    def collect(self) -> Iterator[CounterMetricFamily | GaugeMetricFamily]:
        labels = ["function"]
        instances = GaugeMetricFamily(
            "eventfn_function_instances", "Instances by state.", labels=["function", "state"]
        )
        in_flight = GaugeMetricFamily(
            "eventfn_function_calls_in_flight",
            "Calls running or waiting for an instance.",
            labels=labels,
        )
        cold = CounterMetricFamily(
            "eventfn_function_cold_starts",
            "Calls that found the function scaled to zero and waited for an instance.",
            labels=labels,
        )
        # Knative's autoscaler metrics, under eventfn's prefix.
        ready = GaugeMetricFamily(
            "eventfn_autoscaler_ready_instances", "Instances able to take calls.", labels=labels
        )
        desired = GaugeMetricFamily(
            "eventfn_autoscaler_desired_instances",
            "Instances the autoscaler wants, within the function's bounds.",
            labels=labels,
        )
        panic = GaugeMetricFamily(
            "eventfn_autoscaler_panic_mode", "1 while the autoscaler panics.", labels=labels
        )
        target = GaugeMetricFamily(
            "eventfn_autoscaler_target_per_instance",
            "The load one instance is sized for, in the function's metric.",
            labels=["function", "metric"],
        )
        observed = {
            (window, metric): GaugeMetricFamily(
                f"eventfn_autoscaler_{window}_{name}",
                f"Observed {what}, averaged over the {window} window.",
                labels=labels,
            )
            for window in ("stable", "panic")
            for metric, name, what in (
                ("rps", "requests_per_second", "calls per second"),
                ("concurrency", "request_concurrency", "calls running or waiting"),
            )
        }
        for pool in self._pools():
            name = pool.fn.name
            instances.add_metric([name, "idle"], pool.idle)
            instances.add_metric([name, "busy"], pool.ready - pool.idle)
            instances.add_metric([name, "starting"], pool.starting)
            in_flight.add_metric([name], pool.calls_in_flight)
            cold.add_metric([name], pool.cold_starts)
            ready.add_metric([name], pool.ready)
            desired.add_metric([name], pool.desired)
            panic.add_metric([name], 1 if pool.panicking else 0)
            target.add_metric([name, pool.scaling.metric], pool.scaling.target)
            decision = pool.last_decision
            if decision is not None:
                seen = decision.observation
                observed["stable", "rps"].add_metric([name], seen.stable_rps)
                observed["panic", "rps"].add_metric([name], seen.panic_rps)
                observed["stable", "concurrency"].add_metric([name], seen.stable_concurrency)
                observed["panic", "concurrency"].add_metric([name], seen.panic_concurrency)
        yield from (instances, in_flight, cold, ready, desired, panic, target)
        yield from observed.values()
