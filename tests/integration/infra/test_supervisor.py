"""The supervisor, in-process, with stand-in components: restart, stop, failure."""

from __future__ import annotations

import json
import os
import signal
import sys
import threading
from dataclasses import replace
from pathlib import Path

import pytest

from eventcore.backoff import Backoff
from infra import processes
from infra.errors import InfraError, StartupError
from infra.ports import free_port
from infra.rundir import RunDir
from infra.supervisor import Component, Liveness, Supervisor, Task
from infra.waiting import http_ready, wait_until
from tests.integration.infra.helpers import describe, eventfn_processes, standin_command


def standin(port: int, *args: str) -> Component:
    return Component(
        name="standin",
        argv=standin_command("--child", *args),
        env={"PORT": str(port)},
        health=lambda: http_ready(f"http://127.0.0.1:{port}/readyz", timeout=0.5),
        backoff=Backoff(initial_s=0.1, cap_s=1.0),
        stop_timeout=5.0,
    )


def test_restarts_a_killed_component_and_stops_its_whole_group(tmp_path: Path):
    run = RunDir(tmp_path)
    port = free_port()
    supervisor = Supervisor([standin(port)], run, tick=0.05)
    supervisor.start_in_background(timeout=30)
    try:
        first = supervisor.pid_of("standin")
        assert first is not None
        assert processes.read_pidfile(run.pidfile("standin")) == processes.PidRecord(
            first,
            processes.proc_info(first).start_ticks,  # type: ignore[union-attr]
        )
        # the pidfile itself holds the pid alone, so `kill $(cat ...)` is safe
        assert run.pidfile("standin").read_text() == f"{first}\n"
        # its child (like the gateway's fdk processes) shares its process group
        group = processes.group_members(first)
        assert len(group) == 2

        os.kill(first, signal.SIGKILL)

        def restarted() -> int | None:
            pid = supervisor.pid_of("standin")
            healthy = supervisor.status()["components"][0]["state"] == "healthy"
            return pid if pid not in (None, first) and healthy else None

        second = wait_until(restarted, timeout=20, what="the stand-in to be restarted")
        assert http_ready(f"http://127.0.0.1:{port}/readyz")
        assert supervisor.status()["components"][0]["restarts"] == 1
        record = processes.read_pidfile(run.pidfile("standin"))
        assert record is not None
        assert record.pid == second
        assert record.alive()
        assert processes.group_members(first) == [], "the dead leader's child was left behind"
        assert run.log("standin").read_text().count("supervisor: starting standin") == 2
    finally:
        supervisor.stop()
    left = eventfn_processes(tmp_path)
    assert left == [], describe(left)
    assert not run.pidfile("standin").exists()


def test_keeps_restarting_a_crashing_component_with_backoff(tmp_path: Path):
    crasher = Component(
        name="crasher",
        argv=(sys.executable, "-c", "print('about to fail'); raise SystemExit(3)"),
        health=lambda: False,
        backoff=Backoff(initial_s=0.05, cap_s=0.2),
    )
    supervisor = Supervisor([crasher], RunDir(tmp_path), tick=0.02)
    thread = threading.Thread(target=supervisor.run, daemon=True)
    thread.start()
    try:
        wait_until(
            lambda: supervisor.status()["components"][0]["restarts"] >= 3,
            timeout=20,
            what="three restarts",
        )
        assert not supervisor.ready.is_set()
    finally:
        supervisor.stop()
        thread.join(10)
    assert not thread.is_alive()
    assert "about to fail" in RunDir(tmp_path).log("crasher").read_text()


def test_a_failing_task_stops_what_was_started(tmp_path: Path):
    def boom() -> None:
        raise InfraError("the migrations are broken")

    supervisor = Supervisor([standin(free_port()), Task("migrate", boom)], RunDir(tmp_path))
    with pytest.raises(StartupError, match="task migrate failed: the migrations are broken"):
        supervisor.start_in_background(timeout=30)
    assert supervisor.error is not None
    left = eventfn_processes(tmp_path)
    assert left == [], describe(left)


def test_writes_status_for_the_control_commands(tmp_path: Path):
    run = RunDir(tmp_path)
    supervisor = Supervisor([standin(free_port())], run)
    supervisor.start_in_background(timeout=30)
    try:
        status = json.loads(run.status_file.read_text())
        assert status["supervisor"] == {"pid": os.getpid(), "state": "ready", "error": None}
        assert status["components"][0]["name"] == "standin"
        assert status["components"][0]["pid"] == supervisor.pid_of("standin")
    finally:
        supervisor.stop()
    assert '"stopped"' in run.status_file.read_text()


def test_failures_are_forgiven_after_a_stable_run():
    component = Component("c", ("true",), health=lambda: True, stable_after_s=30.0)
    assert component.failures_after_exit(4, uptime=2.0) == 5
    assert component.failures_after_exit(4, uptime=31.0) == 1


def test_kills_and_restarts_a_component_that_stops_answering(tmp_path: Path):
    run = RunDir(tmp_path)
    port = free_port()
    liveness = Liveness(period_s=0.3, failures=2)
    supervisor = Supervisor([standin(port)], run, tick=0.05, liveness=liveness)
    supervisor.start_in_background(timeout=30)
    try:
        first = supervisor.pid_of("standin")
        assert first is not None
        os.kill(first, signal.SIGSTOP)  # alive to the kernel, deaf to its probes

        def restarted() -> int | None:
            pid = supervisor.pid_of("standin")
            healthy = supervisor.status()["components"][0]["state"] == "healthy"
            return pid if pid not in (None, first) and healthy else None

        wait_until(restarted, timeout=20, what="the stopped stand-in to be replaced")
        assert processes.proc_info(first) is None or processes.proc_info(first).zombie
        assert "not answering its liveness check (2 in a row)" in run.log("standin").read_text()
    finally:
        supervisor.stop()
    assert eventfn_processes(tmp_path) == []


def test_a_healthy_component_is_left_alone_by_its_probes(tmp_path: Path):
    probes: list[bool] = []

    def live() -> bool:
        probes.append(True)
        return True

    port = free_port()
    component = replace(standin(port), live=live)
    liveness = Liveness(period_s=0.05, failures=1)
    supervisor = Supervisor([component], RunDir(tmp_path), tick=0.05, liveness=liveness)
    supervisor.start_in_background(timeout=30)
    try:
        first = supervisor.pid_of("standin")
        wait_until(lambda: len(probes) >= 10, timeout=10, what="ten liveness probes")
        assert supervisor.pid_of("standin") == first
        assert supervisor.status()["components"][0]["restarts"] == 0
    finally:
        supervisor.stop()
