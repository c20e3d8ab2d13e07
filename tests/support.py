"""Test helpers: running eventfn's own processes, reading Kafka and metrics.

Free ports and waiting on a condition come from infra (infra.ports,
infra.waiting), the same code the supervisor uses.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from eventio.alert_store import AlertStore
from eventio.alerting import AlertStage
from eventio.database import Database
from eventio.producer import EventProducer
from eventio.rulefile import RuleFile
from infra.components import bridge_targets
from infra.serving import serving

ROOT = Path(__file__).resolve().parent.parent
FIXTURE_APP = ROOT / "tests" / "fixtures" / "app"


def pipeline_env(
    run_dir: Path,
    kafka: str,
    database_url: str,
    port: int,
    bridge_port: int,
    functions: tuple[str, ...] = ("persist", "alert"),
) -> dict[str, str]:
    """What a gateway and a bridge feeding ``functions`` of the repository's app
    need to run together, on the test session's Kafka and PostgreSQL."""
    return {
        "EVENTFN_ROOT": str(ROOT),
        "EVENTFN_RUN_DIR": str(run_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka,
        "DATABASE_URL": database_url,
        "PORT": str(port),
        "EVENTFN_BRIDGE_PORT": str(bridge_port),
        "EVENTFN_BRIDGE_TARGETS": bridge_targets(f"http://127.0.0.1:{port}", ROOT, functions),
    }


@contextlib.contextmanager
def alert_stage(rules: Path, database_url: str, kafka: str, **options: Any) -> Iterator[AlertStage]:
    """The alert stage in this process, on the test session's PostgreSQL and
    Kafka, with no Alertmanager unless ``options`` name one (or a clock)."""
    producer = EventProducer(kafka, "tests-alert-stage", timeout_s=10)
    database = Database(database_url, "tests")
    settings: dict[str, Any] = {
        "alerts_topic": "alerts",
        "alertmanager": None,
        "resend_s": 60,
        "generator_url": "http://127.0.0.1:8080",
        **options,
    }
    try:
        yield AlertStage(RuleFile.open(rules), AlertStore(database), producer, **settings)
    finally:
        producer.close()
        database.close()


def autoscaler_config(directory: Path, **keys: str) -> str:
    """A file of Knative config-autoscaler keys (``initial_scale="0"`` for
    initial-scale) for ``EVENTFN_AUTOSCALER_CONFIG``; its path."""
    path = directory / "autoscaler.yaml"
    path.write_text("".join(f'{k.replace("_", "-")}: "{v}"\n' for k, v in keys.items()))
    return str(path)


# Nothing warmed at start: functions start at their first call.
COLD = {"initial_scale": "0", "allow_zero_initial_scale": "true"}


def python_env(extra: Mapping[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTFN_", "FN_"))}
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'functions'}"
    env.update(extra)
    return env


@contextlib.contextmanager
def running(
    module: str,
    env: Mapping[str, str],
    ready_url: str,
    log_path: Path,
    timeout_s: float = 30.0,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """Run ``python -m module`` until the block ends; it must answer 200 on ``ready_url``."""
    with serving(
        module, python_env(env), ready_url, log_path, timeout_s=timeout_s, cwd=cwd
    ) as process:
        yield process


def metric(text: str, name: str, **labels: str) -> float:
    """The value of one sample in Prometheus text, 0 when absent."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        sample, _, value = line.rpartition(" ")
        metric_name, _, label_text = sample.partition("{")
        found = ",".join(sorted(label_text.rstrip("}").split(","))) if label_text else ""
        if metric_name == name and found == wanted:
            return float(value)
    return 0.0


def topic_size(bootstrap: str, topic: str) -> int:
    """Records ever written to ``topic`` (the sum of its partitions' high watermarks)."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "eventfn-tests-size"})
    try:
        partitions = consumer.list_topics(topic, timeout=10).topics[topic].partitions
        return sum(
            consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
            for p in partitions
        )
    finally:
        consumer.close()


def read_topic(
    bootstrap: str, topic: str, until: Callable[[list[Any]], bool], timeout_s: float = 20
):
    """Messages of ``topic`` from the start, read until ``until(messages)`` holds."""
    from confluent_kafka import Consumer

    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"eventfn-tests-{time.monotonic_ns()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
        }
    )
    consumer.subscribe([topic])
    messages: list[Any] = []
    try:
        deadline = time.monotonic() + timeout_s
        while not until(messages):
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out reading {topic}: {len(messages)} messages seen")
            message = consumer.poll(0.2)
            if message is not None and message.error() is None:
                messages.append(message)
        return messages
    finally:
        consumer.close()


def header(message: Any, name: str) -> bytes | None:
    """One header of a consumed Kafka message; None when absent (or it has none)."""
    return dict(message.headers() or []).get(name)
