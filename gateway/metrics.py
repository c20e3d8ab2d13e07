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
        instances = GaugeMetricFamily(
            "eventfn_function_instances", "Instances by state.", labels=["function", "state"]
        )
        in_flight = GaugeMetricFamily(
            "eventfn_function_calls_in_flight", "Calls being run now.", labels=["function"]
        )
        cold = CounterMetricFamily(
            "eventfn_function_cold_starts",
            "Calls that had to start an instance.",
            labels=["function"],
        )
        for pool in self._pools():
            name = pool.fn.name
            instances.add_metric([name, "idle"], pool.idle)
            instances.add_metric([name, "busy"], pool.ready - pool.idle)
            instances.add_metric([name, "starting"], pool.starting)
            in_flight.add_metric([name], pool.calls_in_flight)
            cold.add_metric([name], pool.cold_starts)
        yield instances
        yield in_flight
        yield cold
