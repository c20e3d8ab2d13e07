"""Rows 1 and 2: what Kafka and its Python clients can take, with no HTTP.

1. Kafka's own ``ProducerPerformance`` (the jars of the broker's version),
   ``acks=all``, the payload file: the ingest limit L1. Beside it, the same
   tool with ``acks=1``: the broker's ceiling when no write waits for the
   in-sync replicas. On one broker the two should be about equal; a gap means
   acks=all itself costs something on this machine.
2. A bare confluent-kafka produce loop (the client eventfn uses) with the same
   events and settings: the client ceiling L2, against L1. The same loop with
   kafka-python (pure Python), against L2: why eventfn uses librdkafka.

Every producer sends the payload's events as values (no key, no headers, as
ProducerPerformance does), idempotent with ``acks=all`` (acks=1 cannot be
idempotent), ``linger.ms`` and ``batch.size`` pinned because their defaults
changed between versions (KIP-1030). Each figure is the median of
``size.repeats`` runs.
"""

from __future__ import annotations

import re
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib.metadata import version
from pathlib import Path
from typing import Any

from bench import cpu
from bench.report import Row
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import median
from infra.kafka import KAFKA_VERSION, java_command
from infra.settings import ROOT
from infra.topics import TopicSpec, ensure_topics

TOPIC = "bench.limits"
PARTITIONS = 6  # as the events topic
LINGER_MS = 5
BATCH_BYTES = 65_536
TOOL = "org.apache.kafka.tools.ProducerPerformance"
FLUSH_TIMEOUT_S = 120.0

_SUMMARY = re.compile(
    r"(?P<records>\d+)(?: steady state)? records sent, "
    r"(?P<rate>[\d.]+) records/sec \((?P<mb>[\d.]+) MB/sec\), "
    r"(?P<avg>[\d.]+) ms avg latency, (?P<max>[\d.]+) ms max latency, "
    r"(?P<p50>\d+) ms 50th, (?P<p95>\d+) ms 95th, (?P<p99>\d+) ms 99th, (?P<p999>\d+) ms 99.9th"
)


class LimitError(Exception):
    """A limit probe failed or printed nothing usable."""


@dataclass(frozen=True)
class ToolSummary:
    """ProducerPerformance's final line: throughput and send-to-ack latency."""

    records: int
    records_per_s: float
    mb_per_s: float
    avg_ms: float
    max_ms: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    p999_ms: float


def parse_summary(output: str) -> ToolSummary:
    """The final summary line of ProducerPerformance's output (the one with percentiles)."""
    found = None
    for match in _SUMMARY.finditer(output):
        found = match
    if found is None:
        raise LimitError(f"no ProducerPerformance summary in its output:\n{output[-2000:]}")
    value = found.groupdict()
    return ToolSummary(
        records=int(value["records"]),
        records_per_s=float(value["rate"]),
        mb_per_s=float(value["mb"]),
        avg_ms=float(value["avg"]),
        max_ms=float(value["max"]),
        p50_ms=float(value["p50"]),
        p95_ms=float(value["p95"]),
        p99_ms=float(value["p99"]),
        p999_ms=float(value["p999"]),
    )


def producer_props(bootstrap: str, acks: str) -> dict[str, str]:
    """The Java producer's settings; the Python loops use the same values."""
    return {
        "bootstrap.servers": bootstrap,
        "acks": acks,
        "enable.idempotence": "true" if acks == "all" else "false",
        "linger.ms": str(LINGER_MS),
        "batch.size": str(BATCH_BYTES),
        "compression.type": "none",
    }


def producer_performance(
    bootstrap: str, payload_file: Path, records: int, acks: str, log: Path
) -> ToolSummary:
    """One run of Kafka's producer benchmark, unthrottled, on the payload file."""
    props = [f"{k}={v}" for k, v in producer_props(bootstrap, acks).items()]
    argv = java_command(
        ROOT,
        TOOL,
        "--topic",
        TOPIC,
        "--num-records",
        str(records),
        "--payload-file",
        str(payload_file),
        "--throughput",
        "-1",
        # the same k=v list as --producer-props, which this version deprecates
        "--command-property",
        *props,
    )
    # Bounded: even a slow machine does far more than 10,000 records a second.
    result = subprocess.run(
        argv, capture_output=True, text=True, timeout=60 + records / 10_000, check=False
    )
    with log.open("a") as out:
        out.write(f"$ {' '.join(argv)}\n{result.stdout}{result.stderr}\n")
    if result.returncode != 0:
        raise LimitError(f"{TOOL} exited with {result.returncode}:\n{result.stderr[-2000:]}")
    return parse_summary(result.stdout)


def confluent_loop(bootstrap: str, payload: Sequence[bytes], records: int) -> float:
    """Records/s of a bare confluent-kafka produce loop, until every ack is in."""
    from confluent_kafka import KafkaError, Message, Producer

    producer = Producer({**producer_props(bootstrap, "all"), "queue.buffering.max.kbytes": 65_536})
    producer.list_topics(TOPIC, timeout=10)  # metadata before the clock starts
    failed = 0

    def delivered(error: KafkaError | None, _message: Message) -> None:
        nonlocal failed
        if error is not None:
            failed += 1

    produce, poll, count = producer.produce, producer.poll, len(payload)
    start = time.perf_counter()
    for index in range(records):
        value = payload[index % count]
        while True:
            try:
                produce(TOPIC, value, on_delivery=delivered)
                break
            except BufferError:
                poll(0.005)  # the local queue is full: let acks drain it
        if index % 1_000 == 0:
            poll(0)
    left = producer.flush(FLUSH_TIMEOUT_S)
    elapsed = time.perf_counter() - start
    if left or failed:
        raise LimitError(f"confluent-kafka loop: {failed} failed, {left} unacknowledged")
    return records / elapsed


def kafka_python_loop(bootstrap: str, payload: Sequence[bytes], records: int) -> float:
    """Records/s of the same loop with kafka-python, until every ack is in."""
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    producer = KafkaProducer(
        bootstrap_servers=bootstrap,
        acks="all",
        enable_idempotence=True,
        linger_ms=LINGER_MS,
        batch_size=BATCH_BYTES,
        compression_type=None,
    )
    try:
        producer.partitions_for(TOPIC)  # metadata before the clock starts
        failed = 0

        def on_error(_error: Exception) -> None:
            nonlocal failed
            failed += 1

        send, count = producer.send, len(payload)
        start = time.perf_counter()
        for index in range(records):
            send(TOPIC, payload[index % count]).add_errback(on_error)
        producer.flush(FLUSH_TIMEOUT_S)
        elapsed = time.perf_counter() - start
    finally:
        producer.close(timeout=10)
    if failed:
        raise LimitError(f"kafka-python loop: {failed} records failed")
    return records / elapsed


def run(stack: Stack, size: Size, payload_file: Path, payload: Sequence[bytes]) -> list[Row]:
    """Rows 1, 2a and 2b, each figure the median of ``size.repeats`` runs."""
    ensure_topics(stack.kafka, (TopicSpec(TOPIC, PARTITIONS),))
    log = stack.run_dir / "logs" / "producer-performance.log"
    cores: dict[str, dict[str, float]] = {}
    try:
        with cpu.measure() as cores["1"]:
            acks_all = [
                producer_performance(stack.kafka, payload_file, size.kafka_tool_records, "all", log)
                for _ in range(size.repeats)
            ]
        acks_one = [
            producer_performance(stack.kafka, payload_file, size.kafka_tool_records, "1", log)
            for _ in range(size.repeats)
        ]
        with cpu.measure() as cores["2a"]:
            confluent = [
                confluent_loop(stack.kafka, payload, size.confluent_records)
                for _ in range(size.repeats)
            ]
        with cpu.measure() as cores["2b"]:
            pure = [
                kafka_python_loop(stack.kafka, payload, size.kafka_python_records)
                for _ in range(size.repeats)
            ]
    finally:
        _delete_topic(stack.kafka)
    rows = _rows(size, payload, acks_all, acks_one, confluent, pure)
    # The CPU each part used while the figure (not the limit) was measured;
    # the gateway ran meanwhile, idle, with these autoscaler keys.
    extra = {"gateway": "idle", "autoscaler": dict(stack.autoscaler)}
    return [
        replace(row, settings={**row.settings, "cpu_cores": cores[row.key], **extra})
        for row in rows
    ]


def _rows(
    size: Size,
    payload: Sequence[bytes],
    acks_all: Sequence[ToolSummary],
    acks_one: Sequence[ToolSummary],
    confluent: Sequence[float],
    pure: Sequence[float],
) -> list[Row]:
    l1 = median([s.records_per_s for s in acks_all])
    l1_acks1 = median([s.records_per_s for s in acks_one])
    l2 = median(confluent)
    typical = sorted(acks_all, key=lambda s: s.records_per_s)[len(acks_all) // 2]
    common: dict[str, Any] = {
        "topic": f"{TOPIC} ({PARTITIONS} partitions, replication 1)",
        "linger.ms": LINGER_MS,
        "batch.size": BATCH_BYTES,
        "compression": "none",
        "repeats": size.repeats,
        "payload_bytes_mean": round(sum(map(len, payload)) / len(payload), 1),
    }
    return [
        Row(
            key="1",
            name="Kafka's ProducerPerformance, acks=all (= L1)",
            figure=l1,
            unit="records/s",
            limit_name="same tool, acks=1",
            limit=l1_acks1,
            settings={
                **common,
                "tool": f"{TOOL} {KAFKA_VERSION}, -Xmx512m",
                "records": size.kafka_tool_records,
                "acks": "all (idempotent) vs 1 (not idempotent)",
                "throughput": "-1 (unthrottled)",
                "runs_acks_all": [round(s.records_per_s) for s in acks_all],
                "runs_acks_1": [round(s.records_per_s) for s in acks_one],
            },
            detail={
                "MB/s": typical.mb_per_s,
                "ack p50 ms": typical.p50_ms,
                "ack p99 ms": typical.p99_ms,
            },
        ),
        Row(
            key="2a",
            name="bare confluent-kafka produce loop (= L2)",
            figure=l2,
            unit="records/s",
            limit_name="L1",
            limit=l1,
            settings={
                **common,
                "client": f"confluent-kafka {version('confluent-kafka')}",
                "records": size.confluent_records,
                "acks": "all (idempotent)",
                "loop": "produce() with a delivery callback, poll(0) every 1,000, flush()",
            },
        ),
        Row(
            key="2b",
            name="the same loop with kafka-python",
            figure=median(pure),
            unit="records/s",
            limit_name="L2",
            limit=l2,
            settings={
                **common,
                "client": f"kafka-python {version('kafka-python')}",
                "records": size.kafka_python_records,
                "acks": "all (idempotent)",
                "loop": "send() with an errback, flush()",
            },
            detail={"vs L1": median(pure) / l1 if l1 else 0.0},
        ),
    ]


def _delete_topic(bootstrap: str) -> None:
    """The probe's topic holds nothing anyone needs; on a shared broker it must not stay."""
    from confluent_kafka.admin import AdminClient

    admin = AdminClient({"bootstrap.servers": bootstrap})  # alive until the answer is in
    futures = admin.delete_topics([TOPIC])
    for future in futures.values():
        future.result(timeout=30)
