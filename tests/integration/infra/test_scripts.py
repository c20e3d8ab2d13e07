"""scripts/run-all.sh and scripts/stop-all.sh, end to end, with stand-in gateway and bridge.

Kafka and PostgreSQL are the session's (passed as external services), the
gateway and bridge are tests/integration/infra/standin.py via the EVENTFN_GATEWAY_CMD /
EVENTFN_BRIDGE_CMD hooks, and everything lives in a temporary run directory on
free ports, so these tests run next to a real ``run-all.sh`` without touching it.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from infra import processes
from infra.ports import free_ports
from infra.settings import ROOT
from infra.waiting import http_ready, wait_until
from tests.integration.infra.helpers import describe, eventfn_processes, standin_command

pytestmark = pytest.mark.integration

RUN_ALL = ROOT / "scripts" / "run-all.sh"
STOP_ALL = ROOT / "scripts" / "stop-all.sh"
# variables a developer's shell may have set that must not leak into these runs
CONFIG_VARS = (
    "EVENTFN_RUN_DIR",
    "EVENTFN_KAFKA_PORT",
    "EVENTFN_KAFKA_CONTROLLER_PORT",
    "EVENTFN_PG_PORT",
    "PORT",
    "EVENTFN_BRIDGE_PORT",
    "EVENTFN_ALERTMANAGER_PORT",
    "ALERTMANAGER_URL",
    "EVENTFN_GATEWAY_CMD",
    "EVENTFN_BRIDGE_CMD",
)


class Run:
    """One temporary eventfn run: its directory, ports and environment."""

    def __init__(self, run_dir: Path, kafka_bootstrap: str, database_url: str) -> None:
        self.dir = run_dir
        self.gateway_port, self.bridge_port, self.alertmanager_port = free_ports(3)
        env = {k: v for k, v in os.environ.items() if k not in CONFIG_VARS}
        self.env = {
            **env,
            "EVENTFN_RUN_DIR": str(run_dir),
            "PORT": str(self.gateway_port),
            "EVENTFN_BRIDGE_PORT": str(self.bridge_port),
            "EVENTFN_ALERTMANAGER_PORT": str(self.alertmanager_port),
            "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
            "DATABASE_URL": database_url,
            "EVENTFN_GATEWAY_CMD": shlex.join(standin_command("--child")),
            "EVENTFN_BRIDGE_CMD": shlex.join(standin_command("--port-env", "EVENTFN_BRIDGE_PORT")),
        }

    def script(self, path: Path, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(path), *args],
            env={**self.env, **env},
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=280,
            check=False,
        )

    def start_script(self, path: Path) -> subprocess.Popen[str]:
        return subprocess.Popen(
            [str(path)],
            env=self.env,
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

    def supervisor_pid(self) -> int | None:
        record = processes.read_pidfile(self.dir / "pids" / "supervisor.pid")
        return record.pid if record is not None and record.alive() else None

    def supervisors(self) -> list[int]:
        return [
            pid
            for pid in eventfn_processes(self.dir)
            if processes.cmdline_of(pid)[-2:] == ["infra", "supervise"]
        ]

    def component_pid(self, name: str) -> int:
        record = processes.read_pidfile(self.dir / "pids" / f"{name}.pid")
        assert record is not None, f"no pidfile for {name}"
        return record.pid


@pytest.fixture
def run(tmp_path: Path, kafka_bootstrap: str, database_url: str) -> Iterator[Run]:
    run = Run(tmp_path / "run", kafka_bootstrap, database_url)
    try:
        yield run
    finally:
        run.script(STOP_ALL)


def test_run_all_starts_once_and_stop_all_leaves_nothing(run: Run):
    started = run.script(RUN_ALL)
    assert started.returncode == 0, started.stdout + started.stderr
    assert f"curl -X POST http://localhost:{run.gateway_port}/publish" in started.stdout
    assert "psql" in started.stdout
    assert "fn-alert.log" in started.stdout
    assert http_ready(f"http://127.0.0.1:{run.gateway_port}/readyz")
    assert http_ready(f"http://127.0.0.1:{run.bridge_port}/readyz")
    env_file = dict(
        line.split("=", 1) for line in (run.dir / "env").read_text().splitlines() if line
    )
    assert env_file == {
        "KAFKA_BOOTSTRAP_SERVERS": run.env["KAFKA_BOOTSTRAP_SERVERS"],
        "DATABASE_URL": run.env["DATABASE_URL"],
        "GATEWAY_URL": f"http://127.0.0.1:{run.gateway_port}",
        "ALERTMANAGER_URL": f"http://127.0.0.1:{run.alertmanager_port}",
    }
    assert (run.dir / "env").stat().st_mode & 0o077 == 0, "env holds a password"
    supervisor = run.supervisor_pid()
    gateway = run.component_pid("gateway")

    again = run.script(RUN_ALL)

    assert again.returncode == 0, again.stdout + again.stderr
    assert "already running" in again.stdout
    assert run.supervisor_pid() == supervisor
    assert run.supervisors() == [supervisor]
    assert run.component_pid("gateway") == gateway
    assert eventfn_processes(run.dir), "the scan should see the running stand-ins"

    stopped = run.script(STOP_ALL)

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    left = eventfn_processes(run.dir)
    assert left == [], describe(left)
    assert not http_ready(f"http://127.0.0.1:{run.gateway_port}/readyz")
    twice = run.script(STOP_ALL)
    assert twice.returncode == 0, twice.stdout + twice.stderr
    assert "not running" in twice.stdout


def test_two_run_alls_at_once_start_one_of_everything(run: Run):
    first, second = run.start_script(RUN_ALL), run.start_script(RUN_ALL)
    outputs = [process.communicate(timeout=280)[0] for process in (first, second)]

    assert (first.returncode, second.returncode) == (0, 0), "\n".join(outputs)
    assert sum("already running" in output for output in outputs) == 1, "\n".join(outputs)
    assert len(run.supervisors()) == 1
    standins = [
        pid
        for pid in eventfn_processes(run.dir)
        if "--child" in processes.cmdline_of(pid)
        and "standin.py" in " ".join(processes.cmdline_of(pid))
    ]
    assert len(standins) == 1, describe(standins)


def test_orphans_of_a_killed_supervisor_are_cleaned_up(run: Run):
    assert run.script(RUN_ALL).returncode == 0
    supervisor = run.supervisor_pid()
    assert supervisor is not None
    gateway = run.component_pid("gateway")

    os.kill(supervisor, signal.SIGKILL)
    wait_until(lambda: run.supervisor_pid() is None, timeout=10, what="the supervisor to die")
    assert processes.group_members(gateway), "components outlive a SIGKILLed supervisor"

    restarted = run.script(RUN_ALL)

    assert restarted.returncode == 0, restarted.stdout + restarted.stderr
    assert processes.group_members(gateway) == [], "the orphaned gateway was not stopped"
    assert len(run.supervisors()) == 1
    assert run.component_pid("gateway") != gateway

    os.kill(run.supervisor_pid() or 0, signal.SIGKILL)
    stopped = run.script(STOP_ALL)

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    left = eventfn_processes(run.dir)
    assert left == [], describe(left)


def test_stop_all_finds_a_process_that_left_its_group(run: Run):
    escaping = shlex.join(standin_command("--detached-child"))
    assert run.script(RUN_ALL, EVENTFN_GATEWAY_CMD=escaping).returncode == 0
    gateway = run.component_pid("gateway")
    infos = [processes.proc_info(pid) for pid in eventfn_processes(run.dir)]
    detached = [i.pid for i in infos if i and i.ppid == gateway and i.session == i.pid]
    assert len(detached) == 1, describe(eventfn_processes(run.dir))

    stopped = run.script(STOP_ALL)

    assert stopped.returncode == 0, stopped.stdout + stopped.stderr
    assert "stray processes" in stopped.stdout
    left = eventfn_processes(run.dir)
    assert left == [], describe(left)


def test_run_all_reports_a_component_that_never_comes_up(run: Run):
    broken = shlex.join(
        ["python3", "-c", "import sys; print('gateway cannot start: no config'); sys.exit(2)"]
    )

    result = run.script(RUN_ALL, "--timeout", "8", EVENTFN_GATEWAY_CMD=broken)

    assert result.returncode != 0
    assert "gateway cannot start: no config" in result.stdout
    left = eventfn_processes(run.dir)
    assert left == [], describe(left)


def test_a_rule_file_the_alert_function_could_not_use_stops_run_all(run: Run, tmp_path: Path):
    rules = tmp_path / "rules.yaml"
    rules.write_text("rules:\n  - {name: hot, threshold: 80}\n  - {name: cold, op: '=<'}\n")
    started = run.script(RUN_ALL, EVENTFN_ALERT_RULES=str(rules))
    assert started.returncode != 0
    output = started.stdout + started.stderr
    assert f"{rules}: line 3: rules[1].op" in output
    assert run.supervisors() == []
