"""Runs a plan of components and tasks in order, restarts what dies, stops all in reverse.

A *component* is a long-running process with a health check; a *task* is a
one-off step (migrations, topics) between them. The supervisor starts each
step only when the ones before it are done (components: healthy once), keeps
every component in its own process group with its output appended to
``<run>/logs/<name>.log`` and its pid in ``<run>/pids/<name>.pid``, and
restarts a component that exits, with capped exponential backoff. Once a
component is healthy, a liveness thread probes it as a kubelet's liveness
probe does: one that stops answering (stopped, deadlocked) is killed after
``Liveness.failures`` probes in a row, and so restarted.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eventcore.backoff import Backoff
from eventio.settings import RUN_DIR
from infra import processes
from infra.errors import InfraError, StartupError
from infra.rundir import RunDir, tail

log = logging.getLogger("infra.supervisor")

PROBE_INTERVAL = 0.5


@dataclass(frozen=True)
class Component:
    """A supervised long-running process, described as data."""

    name: str
    argv: tuple[str, ...]
    health: Callable[[], bool]
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: Path | None = None
    user: str | None = None
    # Before every start (write config, format storage once); an error here is fatal.
    prepare: Callable[[], None] | None = None
    # Once, the first time the component is healthy (e.g. create the database role).
    on_first_healthy: Callable[[], None] | None = None
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 15.0
    # A component not healthy this long after a start is killed and started again.
    start_timeout: float = 180.0
    # Restarts wait by this; a run of at least ``stable_after_s`` forgives
    # earlier failures, so one crash a minute does not inherit the last one's
    # delay (what the backoff is for is a crash loop: a process that dies
    # within seconds of every start).
    backoff: Backoff = field(default_factory=lambda: Backoff(initial_s=0.5, cap_s=10.0))
    stable_after_s: float = 10.0
    # Asked by the liveness probe once the component is healthy; the health
    # check when None. A liveness check says the process still answers, not
    # that what it depends on is up (a gateway whose Kafka is down is alive).
    live: Callable[[], bool] | None = None
    describe: str = ""

    def failures_after_exit(self, failures: int, uptime: float) -> int:
        """The failures in a row once a run of ``uptime`` seconds ended."""
        return 1 if uptime >= self.stable_after_s else failures + 1


@dataclass(frozen=True)
class Liveness:
    """How healthy components are probed: a kubelet's periodSeconds and
    failureThreshold (each check bounds its own wait). ``period_s`` 0: off."""

    period_s: float = 2.0
    failures: int = 3


@dataclass(frozen=True)
class Task:
    """A one-off step of the plan; raising stops the whole start with that error."""

    name: str
    run: Callable[[], None]


Step = Component | Task


def _alive(component: Component) -> bool:
    try:
        return bool((component.live or component.health)())
    except Exception:
        return False


@dataclass
class _Slot:
    component: Component
    process: subprocess.Popen[bytes] | None = None
    state: str = "pending"  # pending | starting | healthy | backoff | stopped
    started_at: float = 0.0
    next_probe: float = 0.0
    restart_at: float = 0.0
    failures: int = 0
    restarts: int = 0
    last_exit: int | None = None
    ever_healthy: bool = False
    missed_probes: int = 0


class Supervisor:
    """Start ``plan`` in order under ``run``, keep it running until asked to stop."""

    def __init__(
        self,
        plan: Sequence[Step],
        run: RunDir,
        *,
        base_env: Mapping[str, str] | None = None,
        on_ready: Callable[[], None] | None = None,
        write_status: bool = True,
        tick: float = 0.1,
        liveness: Liveness | None = None,
    ) -> None:
        names = [step.name for step in plan]
        if len(set(names)) != len(names):
            raise InfraError(f"plan step names must be unique: {names}")
        self.plan = list(plan)
        self.run_dir = run
        self.base_env = dict(os.environ if base_env is None else base_env)
        self.on_ready = on_ready
        self.write_status = write_status
        self.tick = tick
        # None: no liveness probes (run-all's supervisor has them; a test's
        # fixture that only needs a broker does not).
        self.liveness = liveness
        self.error: str | None = None
        self.ready = threading.Event()
        self._stop = threading.Event()
        self._finished = threading.Event()
        self._slots = {s.name: _Slot(s) for s in plan if isinstance(s, Component)}
        self._next = 0
        self._phase = "starting"
        self._last_status: dict[str, Any] | None = None
        self._thread: threading.Thread | None = None

    # --- public ---------------------------------------------------------------

    def request_stop(self) -> None:
        """Ask the loop to stop every component and return; safe from signal handlers."""
        self._stop.set()

    def run(self) -> int:
        """Start the plan and supervise it until stopped; 0 on a clean stop, 1 on failure."""
        self.run_dir.create()
        if self.liveness is not None and self.liveness.period_s > 0:
            threading.Thread(
                target=self._probe_liveness, args=(self.liveness,), name="liveness", daemon=True
            ).start()
        try:
            while not self._stop.is_set():
                self._reap()
                self._restart_due()
                self._probe()
                if not self._advance():
                    break
                self._publish()
                self._stop.wait(self.tick)
        except Exception as exc:  # a bug must still stop what was started
            log.exception("supervisor loop failed")
            self.error = f"supervisor loop failed: {exc}"
        finally:
            self._phase = "stopping"
            self._publish()
            self._stop_all()
            self._phase = "failed" if self.error else "stopped"
            self._publish()
            self._finished.set()
        return 1 if self.error else 0

    def start_in_background(self, timeout: float) -> None:
        """Run in a thread and return once ready; stop and raise StartupError otherwise."""
        self._thread = threading.Thread(target=self.run, name="supervisor", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not self.ready.wait(0.1):
            if self._finished.is_set() or time.monotonic() > deadline:
                reason = self.error or f"not ready after {timeout:.0f}s"
                tails = self.log_tails()  # before stopping: afterwards all are "stopped"
                self.stop()
                raise StartupError(f"{reason}\n{tails}")

    def stop(self, timeout: float = 120.0) -> None:
        """Stop a supervisor started with :meth:`start_in_background` and wait for it."""
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout)

    def pid_of(self, name: str) -> int | None:
        """The current process id of a component, if it is running."""
        process = self._slots[name].process
        return process.pid if process is not None and process.poll() is None else None

    def status(self) -> dict[str, Any]:
        """A JSON-ready snapshot: the supervisor's phase and each component's state."""
        return {
            "supervisor": {"pid": os.getpid(), "state": self._phase, "error": self.error},
            "components": [
                {
                    "name": slot.component.name,
                    "state": slot.state,
                    "pid": slot.process.pid if slot.process else None,
                    "restarts": slot.restarts,
                    "last_exit": slot.last_exit,
                    "describe": slot.component.describe,
                    "log": str(self.run_dir.log(slot.component.name)),
                }
                for slot in self._slots.values()
            ],
        }

    def log_tails(self, lines: int = 30) -> str:
        """Log tails of every started component that is not healthy, for error messages."""
        parts = []
        for slot in self._slots.values():
            if slot.state in ("starting", "backoff"):
                path = self.run_dir.log(slot.component.name)
                parts.append(f"--- {path} (last {lines} lines) ---\n{tail(path, lines)}")
        return "\n".join(parts)

    # --- the loop ---------------------------------------------------------------

    def _advance(self) -> bool:
        """Run the plan forward as far as it can go now; False on a fatal error."""
        while self._next < len(self.plan):
            step = self.plan[self._next]
            if isinstance(step, Task):
                started = time.monotonic()
                log.info("task %s: running", step.name)
                try:
                    step.run()
                except Exception as exc:
                    return self._fail(f"task {step.name} failed: {exc}")
                log.info("task %s: done in %.1fs", step.name, time.monotonic() - started)
            else:
                slot = self._slots[step.name]
                if slot.state == "pending" and not self._start(slot):
                    return False
                if not slot.ever_healthy:
                    return True
            self._next += 1
        if not self.ready.is_set():
            self._phase = "ready"
            if self.on_ready is not None:
                try:
                    self.on_ready()
                except Exception as exc:
                    return self._fail(f"on_ready failed: {exc}")
            log.info("all components are healthy")
            self._publish()
            self.ready.set()
        return True

    def _start(self, slot: _Slot) -> bool:
        component = slot.component
        try:
            if component.prepare is not None:
                component.prepare()
            env = {**self.base_env, **component.env, RUN_DIR: str(self.run_dir.path)}
            path = self.run_dir.log(component.name)
            with path.open("ab") as out:
                stamp = datetime.now(UTC).isoformat(timespec="seconds")
                out.write(f"=== {stamp} supervisor: starting {component.name} ===\n".encode())
                out.flush()
                slot.process = processes.spawn(
                    component.argv, env=env, log=out, cwd=component.cwd, user=component.user
                )
        except Exception as exc:
            return self._fail(f"cannot start {component.name}: {exc}")
        processes.write_pidfile(
            self.run_dir.pidfile(component.name), slot.process.pid, component.stop_signal
        )
        now = time.monotonic()
        slot.state, slot.started_at, slot.next_probe = "starting", now, now + 0.1
        log.info("%s: started, pid %d", component.name, slot.process.pid)
        return True

    def _reap(self) -> None:
        now = time.monotonic()
        for slot in self._slots.values():
            process = slot.process
            if process is None or process.poll() is None:
                if process is not None and slot.state == "starting":
                    self._check_start_timeout(slot, now)
                continue
            component = slot.component
            uptime = now - slot.started_at
            # Children of the dead leader (fdk processes, postgres backends) go too,
            # or the restarted one would find its sockets and shared memory taken.
            processes.kill_group(process.pid, signal.SIGKILL, grace=5.0)
            processes.remove_pidfile(self.run_dir.pidfile(component.name))
            slot.process, slot.last_exit = None, process.returncode
            slot.failures = component.failures_after_exit(slot.failures, uptime)
            delay = component.backoff.delay(slot.failures)
            slot.state, slot.restart_at = "backoff", now + delay
            log.warning(
                "%s: exited with code %s after %.1fs; restarting in %.1fs",
                component.name,
                process.returncode,
                uptime,
                delay,
            )

    def _check_start_timeout(self, slot: _Slot, now: float) -> None:
        component = slot.component
        if slot.process is not None and now - slot.started_at > component.start_timeout:
            log.warning(
                "%s: not healthy after %.0fs; killing it", component.name, component.start_timeout
            )
            processes.signal_group(slot.process.pid, signal.SIGKILL)

    def _restart_due(self) -> None:
        now = time.monotonic()
        for slot in self._slots.values():
            if slot.state == "backoff" and now >= slot.restart_at:
                slot.restarts += 1
                if not self._start(slot):
                    # a component that cannot even be launched again is fatal
                    self._stop.set()

    def _probe(self) -> None:
        now = time.monotonic()
        for slot in self._slots.values():
            if slot.state != "starting" or now < slot.next_probe:
                continue
            slot.next_probe = now + PROBE_INTERVAL
            try:
                healthy = slot.component.health()
            except Exception:
                healthy = False
            if not healthy:
                continue
            slot.state, slot.missed_probes = "healthy", 0
            log.info("%s: healthy after %.1fs", slot.component.name, now - slot.started_at)
            if not slot.ever_healthy:
                slot.ever_healthy = True
                hook = slot.component.on_first_healthy
                if hook is not None:
                    try:
                        hook()
                    except Exception as exc:
                        self._fail(f"{slot.component.name}: setup after start failed: {exc}")
                        self._stop.set()

    def _probe_liveness(self, liveness: Liveness) -> None:
        """The liveness thread: probe every healthy component each period, all at
        once (a hung one must not delay the others' probes), and kill the ones
        that missed ``failures`` in a row; the loop restarts them as they exit."""
        period = liveness.period_s
        with concurrent.futures.ThreadPoolExecutor(max(1, len(self._slots))) as pool:
            # On a fixed schedule, as a kubelet's ticker: a hung probe's own
            # wait does not stretch the period.
            next_at = time.monotonic() + period
            while not self._stop.wait(max(0.0, next_at - time.monotonic())):
                next_at += period
                probed = [
                    (slot, slot.process, pool.submit(_alive, slot.component))
                    for slot in self._slots.values()
                    if slot.state == "healthy" and slot.process is not None
                ]
                for slot, process, answer in probed:
                    self._judge(slot, process, answer.result(), liveness)

    def _judge(
        self,
        slot: _Slot,
        process: subprocess.Popen[bytes] | None,
        alive: bool,
        liveness: Liveness,
    ) -> None:
        if alive or process is None:
            slot.missed_probes = 0
            return
        slot.missed_probes += 1
        if slot.missed_probes < liveness.failures or self._stop.is_set():
            return
        if slot.process is not process or process.poll() is not None:
            return  # exited or replaced meanwhile: the loop has it
        name = slot.component.name
        log.warning(
            "%s: killing pid %d: its liveness check failed %d times in a row (every %.0fs)",
            name,
            process.pid,
            slot.missed_probes,
            liveness.period_s,
        )
        with self.run_dir.log(name).open("ab") as out:
            stamp = datetime.now(UTC).isoformat(timespec="seconds")
            out.write(
                f"=== {stamp} supervisor: killing {name}: not answering its liveness check "
                f"({slot.missed_probes} in a row) ===\n".encode()
            )
        slot.missed_probes = 0
        processes.signal_group(process.pid, signal.SIGKILL)

    def _fail(self, message: str) -> bool:
        log.error("%s", message)
        self.error = message
        return False

    # --- stopping ---------------------------------------------------------------

    def _stop_all(self) -> None:
        for step in reversed(self.plan):
            if isinstance(step, Component):
                self._stop_slot(self._slots[step.name])

    def _stop_slot(self, slot: _Slot) -> None:
        process, component = slot.process, slot.component
        slot.state = "stopped"
        if process is None:
            return
        if process.poll() is None:
            log.info("%s: stopping (pid %d)", component.name, process.pid)
            with contextlib.suppress(ProcessLookupError):
                os.kill(process.pid, component.stop_signal)
            try:
                process.wait(component.stop_timeout)
            except subprocess.TimeoutExpired:
                log.warning(
                    "%s: still running after %.0fs; killing it",
                    component.name,
                    component.stop_timeout,
                )
                processes.signal_group(process.pid, signal.SIGKILL)
                process.wait()
        # whatever the leader left behind in its group
        processes.kill_group(process.pid, signal.SIGTERM, grace=3.0)
        processes.remove_pidfile(self.run_dir.pidfile(component.name))
        slot.process = None
        log.info("%s: stopped", component.name)

    # --- status -----------------------------------------------------------------

    def _publish(self) -> None:
        if not self.write_status:
            return
        status = self.status()
        if status == self._last_status:
            return
        self._last_status = status
        path = self.run_dir.status_file
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status, indent=2) + "\n")
        tmp.replace(path)
