"""The nemesis: SIGKILL each component in turn at a random moment, and wait for it to come back.

The schedule is planned from the seed before the run starts. With F faults
over N events, fault i fires once at least N·(i+1)/(F+1) events (plus a random
share of half a slice) are acknowledged, after a random delay of up to a few
seconds; publishing waits at N·(i+1.75)/(F+1) until the component is back
(healthy by its own check, under a new pid), so every fault comes after fresh
progress and hits a system that had recovered from the one before.

How each fault is injected:

- ``bridge``, ``gateway``, ``kafka``: SIGKILL to the pid in ``pids/<name>.pid``
  (Kafka's is the java process itself);
- ``function``: SIGKILL to one of the gateway's fdk children (a function
  picked by the seed, then one of its instances); the gateway's pool replaces it;
- ``postgres``: ``pg_ctl -D <data dir> stop -m immediate`` as the user the
  server runs as, a crash that forces WAL recovery on the next start.
"""

from __future__ import annotations

import os
import pwd
import random
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from infra import postgres
from infra.settings import Settings
from infra.waiting import WaitTimeoutError, wait_until
from tests.faults.generator import Gates, Progress
from tests.faults.history import INFO, History
from tests.faults.stack import ROOT, Instance, Stack

FAULTS = ("bridge", "function", "gateway", "kafka", "postgres")


@dataclass(frozen=True)
class PlannedFault:
    """One fault of the schedule."""

    fault: str
    at: int  # acknowledged events before it may fire
    delay_s: float  # then this long, so it lands at a random moment
    gate: int  # publishing waits here until the component is back
    pick: float  # which function instance, for ``function``


def plan_faults(
    faults: Sequence[str], count: int, rng: random.Random, max_delay_s: float = 3.0
) -> list[PlannedFault]:
    """The schedule: one fault per slice of the run, in the order given."""
    unknown = set(faults) - set(FAULTS)
    if unknown:
        raise ValueError(f"unknown faults {sorted(unknown)}; known: {', '.join(FAULTS)}")
    share = count / (len(faults) + 1)
    return [
        PlannedFault(
            fault=fault,
            at=int(share * (i + 1 + rng.random() / 2)),
            delay_s=round(rng.uniform(0, max_delay_s), 3),
            gate=int(share * (i + 1.75)),
            pick=rng.random(),
        )
        for i, fault in enumerate(faults)
    ]


def pick_instance(instances: Sequence[Instance], pick: float) -> Instance:
    """A function first (each as likely, however many instances it runs), then one of its
    instances: ``pick`` in [0, 1) chooses both."""
    functions = sorted({i.function for i in instances})
    if not functions:
        raise RuntimeError("the gateway runs no function instance")
    scaled = pick * len(functions)
    function = functions[int(scaled)]
    candidates = sorted(i.pid for i in instances if i.function == function)
    pid = candidates[int((scaled % 1) * len(candidates))]
    return Instance(pid, function)


class Nemesis:
    """A thread that runs the schedule; every gate is opened when it ends, whatever happens."""

    def __init__(
        self,
        stack: Stack,
        plan: Sequence[PlannedFault],
        history: History,
        progress: Progress,
        gates: Gates,
        *,
        recovery_timeout_s: float = 180.0,
        deadline_s: float = 1800.0,
    ) -> None:
        self.stack = stack
        self.plan = list(plan)
        self.history = history
        self.progress = progress
        self.recovery_timeout_s = recovery_timeout_s
        self.error: str | None = None
        self.stop = threading.Event()
        self._gates = [gates.add(planned.gate) for planned in self.plan]
        self._deadline = time.monotonic() + deadline_s
        self._thread = threading.Thread(target=self._run, name="nemesis")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + 30)

    def _run(self) -> None:
        try:
            for planned, gate in zip(self.plan, self._gates, strict=True):
                remaining = max(0.0, self._deadline - time.monotonic())
                if self.stop.is_set() or not self.progress.wait_for(planned.at, remaining):
                    self.error = f"{planned.fault}: progress never reached {planned.at}"
                    return
                # The deliberate random delay: the kill lands at a moment nobody chose.
                if self.stop.wait(planned.delay_s):
                    return
                if not self._inject(planned):
                    return
                gate.set()
        finally:
            for gate in self._gates:
                gate.set()

    def _inject(self, planned: PlannedFault) -> bool:
        """Kill, record, wait for the recovery; False when it did not come back."""
        acked = self.progress.acked
        try:
            target, recovered = self._kill(planned)
        except Exception as error:  # nothing to kill is a broken run, not a crash of ours
            self.error = f"{planned.fault}: could not inject: {error}"
            self.history.record(
                "nemesis", INFO, "not-recovered", fault=planned.fault, error=str(error)
            )
            return False
        killed = time.monotonic()
        self.history.record(
            "nemesis", INFO, "kill", fault=planned.fault, target=target, progress=acked
        )
        try:
            wait_until(
                recovered,
                timeout=self.recovery_timeout_s,
                what=f"{planned.fault} to come back",
                interval=0.05,
                max_interval=0.25,
            )
        except WaitTimeoutError as error:
            self.error = str(error)
            self.history.record(
                "nemesis", INFO, "not-recovered", fault=planned.fault, error=str(error)
            )
            return False
        self.history.record(
            "nemesis",
            INFO,
            "recovered",
            fault=planned.fault,
            recovery_s=round(time.monotonic() - killed, 3),
            progress=self.progress.acked,
        )
        return True

    def _kill(self, planned: PlannedFault) -> tuple[str, Callable[[], bool]]:
        """Inject the fault; return what was hit and a probe that says it is back."""
        stack = self.stack
        if planned.fault == "function":
            victim = pick_instance(stack.function_instances(), planned.pick)
            self._sigkill(victim.pid)

            def replaced() -> bool:
                return stack.healthy("gateway") and any(
                    i.function == victim.function and i.pid != victim.pid
                    for i in stack.function_instances()
                )

            return f"{victim.function} pid {victim.pid}", replaced
        name = planned.fault
        pid = stack.pid(name)
        if pid is None:
            raise RuntimeError(f"{name} has no live pid in its pidfile")
        if name == "postgres":
            self._stop_postgres_immediately()
            target = f"pg_ctl stop -m immediate, postmaster pid {pid}"
        else:
            self._sigkill(pid)
            target = f"pid {pid}"

        def back() -> bool:
            now = stack.pid(name)
            return now is not None and now != pid and stack.healthy(name)

        return target, back

    def _sigkill(self, pid: int) -> None:
        if not self.stack.ours(pid):
            raise RuntimeError(f"pid {pid} does not belong to {self.stack.run_dir}")
        os.kill(pid, signal.SIGKILL)

    def _stop_postgres_immediately(self) -> None:
        bindir = postgres.find_bindir()
        if bindir is None:
            raise RuntimeError("no PostgreSQL binaries under /usr/lib/postgresql")
        data = postgres.data_dir(Settings(root=ROOT, run_dir=self.stack.run_dir))
        user = postgres.run_as()
        account = pwd.getpwnam(user) if user else None
        done = subprocess.run(
            [str(bindir / "pg_ctl"), "-D", str(data), "stop", "-m", "immediate"],
            cwd=data.parent,
            env={"PATH": "/usr/bin:/bin", "LANG": "C"},
            user=account.pw_uid if account else None,
            group=account.pw_gid if account else None,
            extra_groups=[] if account else None,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"pg_ctl stop -m immediate failed: {done.stdout}{done.stderr}")
