"""How big a run is: the counts and durations of every row, per mode.

``TINY`` is the smoke test's size (it proves the command works, its figures
mean little), ``QUICK`` takes about two minutes in all, ``FULL`` ten to thirteen
(rows 8 and 9 run three times; row 8 steps down, a bounded number of times, when
a run was not sustained).
Counts bound every run, durations bound the timed ones: nothing waits on
traffic that never ends.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Size:
    """The counts and durations of one mode."""

    name: str
    # Events in the payload file every row draws from (cycled where a row needs more).
    payload_events: int
    # Rows 1 and 2 (limits) are measured this many times; the median is kept
    # (one run of a JVM tool on a shared 2-core machine varies by a third).
    repeats: int
    # 1: records ProducerPerformance sends per run.
    kafka_tool_records: int
    # 2: records the bare confluent-kafka loop sends per run, and the kafka-python loop.
    confluent_records: int
    kafka_python_records: int
    # 3: batch ingest through /publish: seconds per batch size, concurrent requests.
    batch_seconds: float
    batch_concurrency: int
    # 4: single-event ingest: seconds per (endpoint, concurrency).
    single_seconds: float
    single_concurrency: tuple[int, ...]
    # Traffic before each timed HTTP run, so instances are started and warm.
    warmup_seconds: float
    # 5: events through the bridge and persist (and raw COPY of the same rows);
    # the naive per-row INSERT-and-commit consumer gets fewer.
    persist_events: int
    naive_events: int
    # 6: empty-batch calls through /invoke and straight to the function's socket.
    invoke_calls: int
    # 7: publish at a fixed rate (events/s) for this long, alert rows timed.
    latency_rate: int
    latency_seconds: float
    # 7's limit: produce -> consume round trips on a topic of its own, one at a time.
    latency_floor_messages: int
    # 8 and 9: each measured this many times; the median is kept.
    stage_repeats: int
    # 8: the whole pipeline at one rate for this long (each timed run), after a
    # search of at most this many runs this long, from this rate when no row
    # of the run measured the stages alone (3b, 5).
    pipeline_seconds: float
    pipeline_trials: int
    pipeline_trial_seconds: float
    pipeline_start_rate: int
    # 9: events through the bridge and the alert stage, per run.
    alert_events: int
    # The share of payload events that trigger an alert rule.
    alert_fraction: float = 0.02


TINY = Size(
    name="tiny",
    payload_events=2_000,
    repeats=1,
    kafka_tool_records=50_000,
    confluent_records=50_000,
    kafka_python_records=10_000,
    batch_seconds=2.0,
    batch_concurrency=4,
    single_seconds=1.5,
    single_concurrency=(1, 64),
    warmup_seconds=0.5,
    persist_events=2_000,
    naive_events=300,
    invoke_calls=100,
    latency_rate=200,
    latency_seconds=3.0,
    latency_floor_messages=200,
    stage_repeats=1,
    pipeline_seconds=3.0,
    pipeline_trials=2,
    pipeline_trial_seconds=2.0,
    pipeline_start_rate=1_000,
    alert_events=2_000,
)

QUICK = Size(
    name="quick",
    payload_events=10_000,
    repeats=3,
    kafka_tool_records=500_000,
    confluent_records=500_000,
    kafka_python_records=100_000,
    batch_seconds=8.0,
    batch_concurrency=6,
    single_seconds=5.0,
    single_concurrency=(1, 64),
    warmup_seconds=2.0,
    persist_events=20_000,
    naive_events=2_000,
    invoke_calls=500,
    latency_rate=1_000,
    latency_seconds=10.0,
    latency_floor_messages=1_000,
    stage_repeats=1,
    pipeline_seconds=10.0,
    pipeline_trials=4,
    pipeline_trial_seconds=6.0,
    pipeline_start_rate=5_000,
    alert_events=20_000,
)

FULL = Size(
    name="full",
    payload_events=50_000,
    repeats=3,
    kafka_tool_records=2_000_000,
    confluent_records=2_000_000,
    kafka_python_records=300_000,
    batch_seconds=20.0,
    batch_concurrency=6,
    single_seconds=12.0,
    single_concurrency=(1, 64),
    warmup_seconds=4.0,
    persist_events=100_000,
    naive_events=5_000,
    invoke_calls=2_000,
    latency_rate=1_000,
    latency_seconds=60.0,
    latency_floor_messages=5_000,
    stage_repeats=3,
    pipeline_seconds=30.0,
    pipeline_trials=5,
    pipeline_trial_seconds=10.0,
    pipeline_start_rate=5_000,
    alert_events=50_000,
)

SIZES = {size.name: size for size in (TINY, QUICK, FULL)}
