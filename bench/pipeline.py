"""Row 8: the whole pipeline sustained, in events/s, against L1.

Publish through the gateway's ``/publish`` (JSON arrays of the payload events,
open loop on a fixed cadence, at most ``CONNECTIONS`` requests in flight)
while one bridge runs persist and alert, each in a fresh consumer group
started at the events topic's end. Each run offers one rate for a bounded
time, samples both groups' lag about every second, then waits until both have
committed everything (the drain) and counts the rows persist stored; whether
the run was sustained is ``bench.sustained.judge``'s.

The rate is found by a short search (``bench.sustained.next_rate``, short
runs, bounded in count) that starts from a share of rows 3b and 5 of the same
run; then ``size.stage_repeats`` runs at the highest rate sustained, each
``size.pipeline_seconds`` long (a run that is not sustained is repeated a step
lower, at most ``RETRIES`` times). The figure is the median of those runs'
acknowledged events/s (all of them stored by persist and applied by alert).

The rows stay in ``events`` (as row 7's do); the alert function uses the
shipped rules (row 9, which changes them, runs later).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import psycopg

from bench import cpu
from bench.ingest import batch_bodies
from bench.latency import Sent, send_at_rate
from bench.offsets import end_offsets, lag_reader, start_groups_at
from bench.persist import count_since, last_seq
from bench.report import Row, Target, at_least
from bench.sampling import sampling
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import median, percentile
from bench.sustained import (
    END_LAG_S,
    GROWTH_SHARE,
    ROUND,
    STEP_DOWN,
    Sample,
    Verdict,
    judge,
    next_rate,
    start_rate,
)
from bridge.settings import BridgeSettings
from infra.waiting import wait_until

TARGET_OF_L1 = 0.25
# The search starts at this share of the slowest stage measured alone (3b, 5).
START_SHARE = 0.5
# A run that is not sustained is run again this much lower, at most RETRIES times a row.
RETRY_STEP = 0.85
RETRIES = 2
# Events a request: a tenth of the rate (ten requests a second), within these bounds.
MIN_PER_REQUEST, MAX_PER_REQUEST = 100, 1_000
CONNECTIONS = 8
SAMPLE_EVERY_S = 1.0
DRAIN_TIMEOUT_S = 90.0
GROUPS = ("persist", "alert")


# --- pure helpers -------------------------------------------------------------


def lower(rate: int, step: float) -> int:
    """``rate`` times ``step``, rounded as the search rounds rates."""
    return max(ROUND, round(rate * step / ROUND) * ROUND)


def per_request(rate: int) -> int:
    """Events a request at ``rate``: ten requests a second, 100 to 1,000 events each."""
    return max(MIN_PER_REQUEST, min(MAX_PER_REQUEST, rate // 10))


@dataclass(frozen=True)
class Run:
    """One rate offered for a time: what publish answered, the lag samples, the
    rows stored, how long the drain took, and the CPU meanwhile."""

    rate: int
    seconds: float
    offered: int
    sent: Sequence[Sent]
    samples: Sequence[Sample]
    stored: int
    drain_s: float
    cores: Mapping[str, float] = field(default_factory=dict)

    @property
    def acked(self) -> int:
        return sum(len(s.ids) for s in self.sent)

    @property
    def late_s(self) -> float:
        """How long after the schedule's end the last answer came (< 0: before it)."""
        first = min(s.due for s in self.sent)
        return max(s.answered for s in self.sent) - first - self.seconds

    @property
    def acked_rate(self) -> float:
        """Events acknowledged per second, from the first request's due time to
        the schedule's end or the last answer, whichever is later."""
        return self.acked / (self.seconds + max(0.0, self.late_s))

    @property
    def verdict(self) -> Verdict:
        return judge(
            self.rate,
            self.seconds,
            self.offered,
            self.acked,
            self.late_s,
            self.stored,
            self.samples,
        )

    def lag_detail(self) -> dict[str, float]:
        """Each group's largest lag while publishing and its lag at the end."""
        found: dict[str, float] = {}
        for group in GROUPS:
            lags = [s.lags[group] for s in self.samples if group in s.lags]
            if lags:
                found[f"{group}_lag_max"] = float(max(lags))
                found[f"{group}_lag_end"] = float(lags[-1])
        return found


def row(
    size: Size,
    l1: float,
    tried: Sequence[Run],
    runs: Sequence[Run],
    settings: Mapping[str, Any],
) -> Row:
    """Row 8 from the timed runs: the median run's figure against L1."""
    typical = sorted(runs, key=lambda r: r.acked_rate)[len(runs) // 2]
    figure = median([r.acked_rate for r in runs])
    answers = [(s.answered - s.sent) * 1000 for s in typical.sent]
    bounded = all(r.verdict.sustained for r in runs)
    return Row(
        key="8",
        name="Whole pipeline sustained: /publish → Kafka → bridge → persist + alert",
        figure=figure,
        unit="events/s",
        limit_name="L1",
        limit=l1,
        targets=(
            at_least(TARGET_OF_L1, "L1", figure / l1 if l1 else 0.0),
            Target("lag bounded over the run", bounded),
        ),
        settings={
            **settings,
            "seconds": size.pipeline_seconds,
            "repeats": len(runs),
            "runs_offered": [r.rate for r in runs],
            "runs_events_per_s": [round(r.acked_rate) for r in runs],
            "runs_sustained": [r.verdict.why or "sustained" for r in runs],
            "search_seconds": size.pipeline_trial_seconds,
            "search": {str(r.rate): r.verdict.why or "sustained" for r in tried},
            "cpu_cores": dict(typical.cores),
            "lag_samples": {
                group: [s.lags.get(group, 0) for s in typical.samples] for group in GROUPS
            },
        },
        detail={
            "offered_events_per_s": float(typical.rate),
            **typical.lag_detail(),
            "rows_stored": float(typical.stored),
            "publish_p50_ms": percentile(answers, 50),
            "publish_p99_ms": percentile(answers, 99),
            "drain_s": typical.drain_s,
        },
    )


def search(
    offered: Callable[[int, float], Run], start: int, count: int, seconds: float
) -> tuple[list[Run], int]:
    """At most ``count`` runs of ``seconds`` from ``start``, each rate chosen by
    ``next_rate``; those runs, and the rate the timed runs go at: the highest
    sustained, else a step below the lowest tried."""
    runs: list[Run] = []
    tried: dict[int, bool] = {}
    rate: int | None = start
    while rate is not None and len(runs) < count:
        runs.append(offered(rate, seconds))
        tried[rate] = runs[-1].verdict.sustained
        rate = next_rate(tried)
    sustained = [rate for rate, ok in tried.items() if ok]
    return runs, max(sustained) if sustained else lower(min(tried), STEP_DOWN)


def timed_runs(
    offered: Callable[[int, float], Run], rate: int, count: int, seconds: float
) -> list[Run]:
    """``count`` runs of ``seconds`` at ``rate``; a run that is not sustained is
    run again ``RETRY_STEP`` lower, at most ``RETRIES`` times in all (then kept)."""
    runs: list[Run] = []
    retries = RETRIES
    while len(runs) < count:
        found = offered(rate, seconds)
        if not found.verdict.sustained and retries > 0:
            retries, rate = retries - 1, lower(rate, RETRY_STEP)
            continue
        runs.append(found)
    return runs


# --- I/O ----------------------------------------------------------------------


def offer(
    stack: Stack,
    read: Callable[[], dict[str, int]],
    connection: psycopg.Connection[Any],
    bodies: Sequence[bytes],
    rate: int,
    seconds: float,
) -> Run:
    """Publish ``bodies`` (cycled, ``per_request(rate)`` events each) at ``rate``
    for ``seconds``, then drain; the run as it went."""
    count = per_request(rate)
    requests = max(1, round(rate * seconds / count))
    seq = last_seq(connection)
    with (
        cpu.measure() as cores,
        sampling(lambda: Sample(time.time(), read()), SAMPLE_EVERY_S) as samples,
    ):
        sent = send_at_rate(
            f"{stack.gateway_url}/publish",
            [bodies[i % len(bodies)] for i in range(requests)],
            count / rate,
            CONNECTIONS,
        )
    began = time.monotonic()
    wait_until(
        lambda: not any(read().values()),
        timeout=DRAIN_TIMEOUT_S,
        what=f"persist and alert to catch up after {rate:,} events/s",
        max_interval=0.2,
    )
    drain_s = time.monotonic() - began
    return Run(
        rate=rate,
        seconds=requests * count / rate,
        offered=requests * count,
        sent=sent,
        samples=samples,
        stored=count_since(connection, seq),
        drain_s=drain_s,
        cores=cores,
    )


def run(
    stack: Stack, size: Size, payload: list[bytes], l1: float, alone: Mapping[str, float]
) -> list[Row]:
    """Row 8 against L1; ``alone`` holds the figures of the stages measured
    alone in this run (rows 3b and 5, where they ran), where the search starts."""
    prefix = f"bench-pipeline-{uuid.uuid4().hex[:8]}-"
    groups = [prefix + group for group in GROUPS]
    start_groups_at(stack.kafka, groups, end_offsets(stack.kafka))
    rate = start_rate(alone, START_SHARE, size.pipeline_start_rate)
    with (
        psycopg.connect(stack.database_url, autocommit=True) as connection,
        stack.start_bridge("persist,alert", group_prefix=prefix),
        lag_reader(stack.kafka, groups) as read_groups,
    ):

        def read() -> dict[str, int]:
            return {name.removeprefix(prefix): lag for name, lag in read_groups().items()}

        bodies: dict[int, list[bytes]] = {}

        def offered(rate: int, seconds: float) -> Run:
            count = per_request(rate)
            if count not in bodies:
                bodies[count] = batch_bodies(payload, count)
            found = offer(stack, read, connection, bodies[count], rate, seconds)
            lags = "; ".join(
                f"{g} " + " ".join(str(s.lags.get(g, 0)) for s in found.samples) for g in GROUPS
            )
            verdict = found.verdict.why or "sustained"
            print(
                f"bench: row 8: {rate:,} events/s, {seconds:g} s: {verdict} ({lags})",
                file=sys.stderr,
            )
            return found

        # Not judged: the bridge's first fetches, the connections and the instances.
        offered(rate, size.warmup_seconds)
        tried, rate = search(offered, rate, size.pipeline_trials, size.pipeline_trial_seconds)
        runs = timed_runs(offered, rate, size.stage_repeats, size.pipeline_seconds)
        instances = {name: stack.instances(name) for name in ("publish", *GROUPS)}
    bridge = BridgeSettings.from_env(stack.env, targets={})
    settings = {
        "client": "aiohttp on uvloop, open loop on a fixed cadence",
        "events_per_request": f"a tenth of the rate, {MIN_PER_REQUEST}-{MAX_PER_REQUEST:,}",
        "connections": CONNECTIONS,
        "bridge": "persist,alert, fresh groups started at the topic's end",
        "bridge_max_batch": bridge.max_batch,
        "bridge_batch_window_s": bridge.batch_window_s,
        "bridge_max_in_flight": bridge.max_in_flight,
        "sustained": "publish acknowledged every event on time; each group's lag at the "
        f"end ≤ {END_LAG_S:g} s' worth, growing < {GROWTH_SHARE:.0%} of the rate over the "
        "second half; then drained, every event stored",
        "lag_sample_every_s": SAMPLE_EVERY_S,
        "instances_after": instances,
        "autoscaler": dict(stack.autoscaler),
    }
    return [row(size, l1, tried, runs, settings)]
