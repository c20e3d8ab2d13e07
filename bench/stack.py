"""What the benchmarks run against: Kafka, PostgreSQL and the gateway, on 127.0.0.1.

Kafka and PostgreSQL start through the same infra plan steps and supervisor
as the test session and ``scripts/run-all.sh`` (or are taken from
``KAFKA_BOOTSTRAP_SERVERS`` / ``DATABASE_URL`` when set); the gateway and any
bridge run as ``python -m gateway`` / ``python -m bridge`` with the
repository's app, on free ports, their logs in the run directory.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.request
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from gateway.registry import function_id, load_app
from infra.components import (
    bridge_targets,
    database_url,
    kafka_plan,
    postgres_plan,
    python_path,
)
from infra.control import recognise_own_env
from infra.ports import free_port, free_ports
from infra.serving import serving
from infra.settings import ROOT, Settings
from infra.supervisor import Supervisor

START_TIMEOUT_S = 240.0
READY_TIMEOUT_S = 60.0
STOP_GRACE_S = 20.0
# Warm instances stay for the whole run: with Knative's defaults an idle
# function scales to zero after 60 s + 30 s, and a row would time a cold start.
AUTOSCALER = {"enable-scale-to-zero": "false"}
_SERVING: dict[str, Any] = {"timeout_s": READY_TIMEOUT_S, "grace_s": STOP_GRACE_S, "cwd": ROOT}


@dataclass(frozen=True)
class Stack:
    """A running stack: where it lives and how to reach it."""

    kafka: str
    database_url: str
    gateway_url: str
    run_dir: Path
    # The environment the gateway got: a bridge started from it sees the same stack.
    env: dict[str, str]
    app_name: str
    # The autoscaler keys every function ran with (each row records them).
    autoscaler: Mapping[str, str] = field(default_factory=lambda: dict(AUTOSCALER))

    def fn_id(self, name: str) -> str:
        """The gateway's ID of the app's function ``name`` (for ``/invoke/{id}``)."""
        return function_id(self.app_name, name)

    def scaling(self) -> dict[str, dict[str, Any]]:
        """Each function's pool as ``GET /scaling`` shows it, by function name."""
        url = f"{self.gateway_url}/scaling"
        with urllib.request.urlopen(url, timeout=10) as response:  # noqa: S310 - our URL
            document = json.load(response)
        return {pool["function"]: pool for pool in document["functions"]}

    def instances(self, name: str) -> int:
        """Ready instances of function ``name`` right now."""
        return int(self.scaling().get(name, {}).get("ready", 0))

    @contextlib.contextmanager
    def start_bridge(
        self,
        functions: str = "persist,alert",
        group_prefix: str | None = None,
        extra_env: Mapping[str, str] | None = None,
    ) -> Iterator[None]:
        """``python -m bridge`` for ``functions``, in consumer groups of its
        own (a fresh prefix unless given), until the block ends."""
        port = free_port()
        prefix = group_prefix or f"bench-{uuid.uuid4().hex[:8]}-"
        env = {
            **self.env,
            "EVENTFN_BRIDGE_TARGETS": bridge_targets(
                self.gateway_url, ROOT, tuple(name.strip() for name in functions.split(","))
            ),
            "EVENTFN_BRIDGE_GROUP_PREFIX": prefix,
            "EVENTFN_BRIDGE_PORT": str(port),
            **(extra_env or {}),
        }
        log = self.run_dir / "logs" / f"bridge-{prefix.strip('-')}.log"
        with serving("bridge", env, f"http://127.0.0.1:{port}/readyz", log, **_SERVING):
            yield


@contextlib.contextmanager
def stack(work_dir: Path, *, bridge: bool = False) -> Iterator[Stack]:
    """Kafka (topics created), PostgreSQL (migrated) and the gateway, in ``work_dir``;
    with ``bridge``, a persist and alert bridge too. Everything stops at exit."""
    work_dir = work_dir.resolve()
    work_dir.mkdir(parents=True, exist_ok=True)
    settings = infra_settings(work_dir)
    supervisor = Supervisor(
        [*postgres_plan(settings), *kafka_plan(settings)], settings.run, write_status=False
    )
    supervisor.start_in_background(START_TIMEOUT_S)
    try:
        url = database_url(settings)
        port = free_port()
        config = work_dir / "autoscaler.yaml"
        config.write_text("".join(f'{key}: "{value}"\n' for key, value in AUTOSCALER.items()))
        # A rule file of the run's own, which row 9 rewrites (the function reloads it).
        rules = work_dir / "alert-rules.yaml"
        shutil.copyfile(ROOT / "functions" / "alert" / "rules.yaml", rules)
        env = service_env(
            {
                "EVENTFN_ROOT": str(ROOT),
                "EVENTFN_RUN_DIR": str(work_dir),
                "EVENTFN_AUTOSCALER_CONFIG": str(config),
                "EVENTFN_ALERT_RULES": str(rules),
                "KAFKA_BOOTSTRAP_SERVERS": settings.bootstrap_servers,
                "DATABASE_URL": url,
                "PORT": str(port),
                "PYTHONPATH": python_path(settings),
                "PYTHONUNBUFFERED": "1",
            }
        )
        gateway_url = f"http://127.0.0.1:{port}"
        running_stack = Stack(
            kafka=settings.bootstrap_servers,
            database_url=url,
            gateway_url=gateway_url,
            run_dir=work_dir,
            env=env,
            app_name=load_app(ROOT).name,
        )
        gateway_log = work_dir / "logs" / "gateway.log"
        with serving("gateway", env, f"{gateway_url}/readyz", gateway_log, **_SERVING):
            if bridge:
                with running_stack.start_bridge():
                    yield running_stack
            else:
                yield running_stack
    finally:
        supervisor.stop()


def infra_settings(work_dir: Path) -> Settings:
    """The environment's settings (external Kafka / PostgreSQL honoured), on free
    ports in ``work_dir``; values that only name run-all's own services do not count."""
    broker, controller, pg = free_ports(3)
    return replace(
        recognise_own_env(Settings.from_env()),
        run_dir=work_dir,
        kafka_port=broker,
        kafka_controller_port=controller,
        pg_port=pg,
    )


def service_env(extra: Mapping[str, str]) -> dict[str, str]:
    """This process's environment without eventfn's and Fn's own variables, plus ``extra``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTFN_", "FN_"))}
    env.update(extra)
    return env
