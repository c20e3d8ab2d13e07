"""What a run ran on: CPU, memory, OS and the versions of everything measured."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import Any

import psycopg

from bench.stack import Stack
from infra.kafka import KAFKA_VERSION, java

LIBRARIES = (
    "confluent-kafka",
    "kafka-python",
    "aiohttp",
    "httpx",
    "uvicorn",
    "starlette",
    "psycopg",
    "fdk",
    "pydantic",
)


def describe(stack: Stack, embedded_kafka: bool) -> dict[str, Any]:
    """The machine and the versions, as the report's header shows them."""
    from confluent_kafka import libversion

    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "memory_gib": _memory_gib(),
        "os": f"{_os_name()}, Linux {platform.release()}",
        "python": platform.python_version(),
        "java": _java_version(),
        "kafka": f"{KAFKA_VERSION} ({'embedded, KRaft, 1 node' if embedded_kafka else 'external'})",
        "postgresql": _postgres_version(stack.database_url),
        "librdkafka": libversion()[0],
        "libraries": {name: _version(name) for name in LIBRARIES},
        "load_average_at_start": [round(x, 2) for x in os.getloadavg()],
    }


def _cpu_model() -> str:
    for line in _read("/proc/cpuinfo").splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def _memory_gib() -> float:
    for line in _read("/proc/meminfo").splitlines():
        if line.startswith("MemTotal:"):
            return round(int(line.split()[1]) / 1024 / 1024, 1)
    return 0.0


def _os_name() -> str:
    for line in _read("/etc/os-release").splitlines():
        if line.startswith("PRETTY_NAME="):
            return line.split("=", 1)[1].strip('"')
    return platform.system()


def _java_version() -> str:
    result = subprocess.run(
        [java(), "-version"], capture_output=True, text=True, timeout=30, check=False
    )
    lines = (result.stderr or result.stdout).splitlines()
    return lines[0] if lines else "unknown"


def _postgres_version(url: str) -> str:
    with psycopg.connect(url, connect_timeout=10) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "unknown"


def _version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def _read(path: str) -> str:
    try:
        return Path(path).read_text()
    except OSError:
        return ""
