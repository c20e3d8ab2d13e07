"""The whole system under ``scripts/run-all.sh``, in a run directory of its own on free ports.

Started and stopped only through the scripts, as a user would. The pids of
the supervised components come from ``<run dir>/pids/<name>.pid``; function
instances are the gateway's ``fdk`` children, found in /proc. Every pid
handed out is checked to carry this run directory in its environment, so a
fault never hits anything else on the machine.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path

from infra import processes
from infra.kafka import broker_ready
from infra.ports import free_ports
from infra.postgres import url_ready
from infra.settings import RUN_DIR
from infra.waiting import WaitTimeoutError, http_ready, wait_until

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ("postgres", "kafka", "gateway", "bridge")
# Where a run lives; never taken from the caller's shell.
_LOCATION = (
    RUN_DIR,
    "EVENTFN_KAFKA_PORT",
    "EVENTFN_KAFKA_CONTROLLER_PORT",
    "EVENTFN_PG_PORT",
    "EVENTFN_BRIDGE_PORT",
    "EVENTFN_ALERTMANAGER_PORT",
    "PORT",
    "KAFKA_BOOTSTRAP_SERVERS",
    "DATABASE_URL",
    "GATEWAY_URL",
    "ALERTMANAGER_URL",
)


class StackError(Exception):
    """The stack did not start, or did not stop cleanly."""


@dataclass(frozen=True)
class Instance:
    """One function instance: an fdk process the gateway runs."""

    pid: int
    function: str


@dataclass(frozen=True)
class Stack:
    """A running stack: where it lives and how to reach it."""

    run_dir: Path
    env: Mapping[str, str]
    bootstrap: str
    database_url: str
    gateway_url: str
    bridge_url: str

    @classmethod
    def start(
        cls, run_dir: Path, extra_env: Mapping[str, str], *, inherit_eventfn: bool = True
    ) -> Stack:
        """``run-all.sh`` in ``run_dir``; the caller's other ``EVENTFN_*`` pass through
        unless ``inherit_eventfn`` is False (tests pin theirs)."""
        run_dir = run_dir.resolve()
        kafka, controller, pg, gateway, bridge, alertmanager = free_ports(6)
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in _LOCATION and (inherit_eventfn or not k.startswith("EVENTFN_"))
        }
        env.update(extra_env)
        env.update(
            {
                RUN_DIR: str(run_dir),
                "EVENTFN_KAFKA_PORT": str(kafka),
                "EVENTFN_KAFKA_CONTROLLER_PORT": str(controller),
                "EVENTFN_PG_PORT": str(pg),
                "PORT": str(gateway),
                "EVENTFN_BRIDGE_PORT": str(bridge),
                "EVENTFN_ALERTMANAGER_PORT": str(alertmanager),
            }
        )
        started = _script("run-all.sh", env, timeout_s=360)
        if started.returncode != 0:
            _script("stop-all.sh", env, timeout_s=200)
            raise StackError(f"run-all.sh failed in {run_dir}:\n{started.stdout}{started.stderr}")
        published = read_env_file(run_dir / "env")
        return cls(
            run_dir=run_dir,
            env=env,
            bootstrap=published["KAFKA_BOOTSTRAP_SERVERS"],
            database_url=published["DATABASE_URL"],
            gateway_url=published["GATEWAY_URL"],
            bridge_url=f"http://127.0.0.1:{bridge}",
        )

    def stop(self) -> None:
        """``stop-all.sh``, then make sure no process of this run is left."""
        stopped = _script("stop-all.sh", dict(self.env), timeout_s=200)
        try:
            wait_until(lambda: not self.processes(), timeout=30, what="every process to end")
        except WaitTimeoutError:
            left = "; ".join(f"{p}: {' '.join(processes.cmdline_of(p))}" for p in self.processes())
            raise StackError(f"still running after stop-all.sh: {left}") from None
        if stopped.returncode != 0:
            raise StackError(f"stop-all.sh failed:\n{stopped.stdout}{stopped.stderr}")

    # --- processes ----------------------------------------------------------------

    def processes(self) -> list[int]:
        """Live processes that belong to this run directory."""
        return processes.processes_with_env(RUN_DIR, str(self.run_dir))

    def ours(self, pid: int) -> bool:
        info = processes.proc_info(pid)
        return (
            info is not None
            and not info.zombie
            and processes.environ_of(pid).get(RUN_DIR) == str(self.run_dir)
        )

    def pid(self, component: str) -> int | None:
        """The live pid in ``pids/<component>.pid``, if it is one of this run's processes."""
        try:
            pid = int((self.run_dir / "pids" / f"{component}.pid").read_text().strip())
        except (OSError, ValueError):
            return None
        return pid if self.ours(pid) else None

    def function_instances(self) -> list[Instance]:
        """The gateway's live fdk children, with the function each runs."""
        gateway = self.pid("gateway")
        if gateway is None:
            return []
        found = []
        for pid in processes.all_pids():
            info = processes.proc_info(pid)
            if info is None or info.ppid != gateway or info.zombie:
                continue
            if any(Path(part).name == "fdk" for part in processes.cmdline_of(pid)[:2]):
                name = processes.environ_of(pid).get("FN_FN_NAME", "?")
                found.append(Instance(pid, name))
        return found

    # --- health ---------------------------------------------------------------------

    def healthy(self, component: str) -> bool:
        """The component's own health check, as the supervisor probes it."""
        if component == "gateway":
            return http_ready(f"{self.gateway_url}/readyz")
        if component == "bridge":
            return http_ready(f"{self.bridge_url}/readyz")
        if component == "kafka":
            return broker_ready(self.bootstrap)
        if component == "postgres":
            return url_ready(self.database_url)
        raise ValueError(f"unknown component {component!r}")

    def all_healthy(self) -> bool:
        return all(self.pid(c) is not None and self.healthy(c) for c in COMPONENTS)

    def log(self, name: str) -> Path:
        return self.run_dir / "logs" / f"{name}.log"


@contextlib.contextmanager
def running(
    run_dir: Path, extra_env: Mapping[str, str], *, inherit_eventfn: bool = True
) -> Iterator[Stack]:
    """A started stack, always stopped afterwards."""
    stack = Stack.start(run_dir, extra_env, inherit_eventfn=inherit_eventfn)
    try:
        yield stack
    finally:
        stack.stop()


def read_env_file(path: Path) -> dict[str, str]:
    pairs = (line.split("=", 1) for line in path.read_text().splitlines() if "=" in line)
    return {key: value for key, value in pairs}


def _script(
    name: str, env: Mapping[str, str], timeout_s: float
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ROOT / "scripts" / name)],
        env=dict(env),
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )
