"""Rows 3 and 4: events in through the gateway's ``POST /publish``.

3. Batch ingest: JSON arrays of 100 and of 1,000 payload events a request,
   enough concurrent requests to keep every publish instance busy; events/s
   acknowledged (202: Kafka has them, acks=all), against L1 and L2.
4. Single-event ingest, the original system's ``curl`` path (one JSON object a
   POST) at concurrency 1 and 64: requests/s and p50/p99, against the same
   load on the same server's trivial ``GET /livez``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from bench.load import CLIENT, LoadResult, run_load
from bench.payload import json_array
from bench.report import Row, at_least
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import latency_summary

BATCH_SIZES = (100, 1_000)
# Distinct bodies prepared per batch size: enough variety, bounded memory.
MAX_BODIES = 64
# The targets for batch ingest, as shares of L1 and L2.
L1_SHARE, L2_SHARE = 0.25, 0.50
# The data-path issue's bar for 1,000-event requests (3b): half of L1.
L1_SHARE_LARGE = 0.50


def batch_bodies(payload: Sequence[bytes], batch: int) -> list[bytes]:
    """Consecutive runs of ``batch`` payload events (wrapping), as JSON arrays."""
    count = max(1, min(MAX_BODIES, len(payload) // batch))
    bodies = []
    for number in range(count):
        start = number * batch
        events = [payload[(start + i) % len(payload)] for i in range(batch)]
        bodies.append(json_array(events))
    return bodies


def run_batches(
    stack: Stack, size: Size, payload: Sequence[bytes], l1: float, l2: float
) -> list[Row]:
    """Row 3: one row per batch size, against L1 (and L2 beside it)."""
    rows = []
    for key, batch in zip("ab", BATCH_SIZES, strict=True):
        bodies = batch_bodies(payload, batch)
        result = run_load(
            f"{stack.gateway_url}/publish",
            concurrency=size.batch_concurrency,
            seconds=size.batch_seconds,
            warmup_seconds=size.warmup_seconds,
            bodies=bodies,
            items=[batch] * len(bodies),
        )
        rate = result.item_rate
        rows.append(
            Row(
                key=f"3{key}",
                name=f"batch ingest, {batch:,} events/request",
                figure=rate,
                unit="events/s",
                limit_name="L1",
                limit=l1,
                other_limits={"L2": l2},
                targets=(
                    at_least(
                        L1_SHARE_LARGE if batch >= 1000 else L1_SHARE,
                        "L1",
                        rate / l1 if l1 else 0.0,
                    ),
                    at_least(L2_SHARE, "L2", rate / l2 if l2 else 0.0),
                ),
                settings={
                    **_http_settings(stack, size, result, size.batch_concurrency),
                    "events_per_request": batch,
                    "body_bytes_mean": round(sum(map(len, bodies)) / len(bodies)),
                    "seconds": size.batch_seconds,
                },
                detail={
                    "requests/s": result.rate,
                    **_latencies(result),
                    "errors": float(result.errors),
                },
            )
        )
    return rows


def run_single(stack: Stack, size: Size, payload: Sequence[bytes]) -> list[Row]:
    """Row 4: one row per concurrency, against ``GET /livez`` at the same concurrency."""
    rows = []
    keys = "abcdefgh"
    for key, concurrency in zip(keys, size.single_concurrency, strict=False):
        trivial = run_load(
            f"{stack.gateway_url}/livez",
            method="GET",
            concurrency=concurrency,
            seconds=size.single_seconds,
            warmup_seconds=size.warmup_seconds,
            expect=(200,),
        )
        published = run_load(
            f"{stack.gateway_url}/publish",
            concurrency=concurrency,
            seconds=size.single_seconds,
            warmup_seconds=size.warmup_seconds,
            bodies=payload,
        )
        trivial_latency = latency_summary(trivial.latencies)
        rows.append(
            Row(
                key=f"4{key}",
                name=f"single-event ingest, concurrency {concurrency}",
                figure=published.rate,
                unit="requests/s",
                limit_name="GET /livez",
                limit=trivial.rate,
                settings={
                    **_http_settings(stack, size, published, concurrency),
                    "events_per_request": 1,
                    "seconds": size.single_seconds,
                    "trivial_endpoint": 'GET /livez on the same gateway ({"status":"ok"})',
                    "livez_cpu_cores": dict(trivial.cpu),
                },
                detail={
                    **_latencies(published),
                    "livez p50 ms": trivial_latency["p50_ms"],
                    "livez p99 ms": trivial_latency["p99_ms"],
                    "errors": float(published.errors + trivial.errors),
                },
            )
        )
    return rows


def _latencies(result: LoadResult) -> dict[str, float]:
    summary = latency_summary(result.latencies)
    return {"p50 ms": summary["p50_ms"], "p99 ms": summary["p99_ms"]}


def _http_settings(
    stack: Stack, size: Size, result: LoadResult, concurrency: int
) -> dict[str, Any]:
    return {
        "client": CLIENT,
        "concurrency": concurrency,
        "warmup_seconds": size.warmup_seconds,
        "publish_instances_after": stack.instances("publish"),
        "autoscaler": dict(stack.autoscaler),
        "statuses": dict(result.statuses),
        "cpu_cores": dict(result.cpu),
    }
