"""The pause: SIGSTOP the bridge past its consumer session, let a standby take over, SIGCONT.

A paused process is the zombie of Jepsen's ``pause`` and Trogdor's
ProcessStopFault: the broker evicts it from its groups once its session times
out, and when it wakes up it still holds the batch it was working on. A
second bridge (the *standby*, started here in the same run directory)
takes the zombie's partitions and commits past it meanwhile, so a stale
commit by the zombie would show as a committed offset going backwards (the
offset sampler records them). Without a standby nobody moves the offsets
while the bridge sleeps, and a stale commit could not be seen at all.

The pause lasts as long as the broker takes to evict the zombie's members,
observed with ``describe_consumer_groups`` (so it reflects whatever session
timeout the bridge really uses), plus some more published events.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Sequence

from infra import processes
from infra.ports import free_port
from infra.waiting import WaitTimeoutError, http_ready, wait_until
from tests.faults import groups
from tests.faults.generator import Gates, Progress
from tests.faults.history import INFO, History
from tests.faults.stack import ROOT, Stack


class Pause:
    """A thread: start the standby, pause the bridge at ``at`` events, resume, open the gate.

    Publishing stops at ``gate_at`` events until the bridge is back, so the
    pause waits for at most that many events to flow past it.
    """

    def __init__(
        self,
        stack: Stack,
        history: History,
        progress: Progress,
        gates: Gates,
        gate_at: int,
        group_names: Sequence[str],
        *,
        at: int,
        flow_while_paused: int,
        topic: str = "events",
        eviction_timeout_s: float = 120.0,
        deadline_s: float = 900.0,
    ) -> None:
        self.stack = stack
        self.history = history
        self.progress = progress
        self.gate = gates.add(gate_at)
        self.gate_at = gate_at
        self.group_names = list(group_names)
        self.at = at
        self.flow_while_paused = flow_while_paused
        self.topic = topic
        self.eviction_timeout_s = eviction_timeout_s
        self.error: str | None = None
        self.notes: list[str] = []
        self._deadline = time.monotonic() + deadline_s
        self._standby: subprocess.Popen[bytes] | None = None
        self._admin = groups.admin(stack.bootstrap)
        self._thread = threading.Thread(target=self._run, name="pause")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + 30)

    def stop_standby(self) -> None:
        """SIGTERM the standby bridge (SIGKILL after 30 s); safe to call twice."""
        standby = self._standby
        if standby is None or standby.poll() is not None:
            return
        standby.terminate()
        try:
            standby.wait(30)
        except subprocess.TimeoutExpired:
            standby.kill()
            standby.wait(10)

    def _remaining(self) -> float:
        return max(0.0, self._deadline - time.monotonic())

    def _run(self) -> None:
        zombie: int | None = None
        try:
            before = self._members()
            self._start_standby()
            # A member keeps its id for its life: the standby's are the new ones.
            # (The supervised bridge may be killed and replaced meanwhile, so its
            # ids are read only when it is paused.)
            standby = {g: ids - before[g] for g, ids in self._members().items()}
            if not self.progress.wait_for(self.at, self._remaining()):
                self.error = f"progress never reached {self.at}"
                return

            def bridge_ids() -> dict[str, set[str]] | None:
                ids = {g: found - standby[g] for g, found in self._members().items()}
                return ids if all(ids.values()) else None

            zombie_ids = wait_until(bridge_ids, timeout=60, what="the bridge in every group")
            zombie = self.stack.pid("bridge")
            if zombie is None:
                self.error = "the bridge has no live pid to pause"
                return
            paused, evicted_s = self._pause(zombie, zombie_ids)
            log_mark = self._log_size()
            os.kill(zombie, signal.SIGCONT)
            was, zombie = zombie, None
            self._resumed(was, paused, evicted_s, log_mark)
        except Exception as error:
            self.error = f"pause: {type(error).__name__}: {error}"
            self.history.record("nemesis", INFO, "not-recovered", fault="pause", error=self.error)
        finally:
            if zombie is not None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(zombie, signal.SIGCONT)
            self.gate.set()

    def _pause(self, zombie: int, zombie_ids: dict[str, set[str]]) -> tuple[float, float]:
        """SIGSTOP, then wait for the eviction and the standby's commits past the zombie;
        returns when the pause began and how long the eviction took."""
        acked = self.progress.acked
        os.kill(zombie, signal.SIGSTOP)
        paused = time.monotonic()
        ends = groups.end_offsets(self.stack.bootstrap, self.topic)
        target = f"bridge pid {zombie}"
        self.history.record("nemesis", INFO, "pause", fault="pause", target=target, progress=acked)
        evicted_s = self._wait_evicted(zombie_ids, paused)
        # Events keep flowing, to the standby alone, until it has committed past
        # everything the zombie could have held: a commit by the zombie after it
        # wakes would then move an offset back.
        flowed = min(self.progress.acked + self.flow_while_paused, self.gate_at)
        self.progress.wait_for(flowed, self._remaining())
        self._wait_standby_past(ends)
        return paused, evicted_s

    def _resumed(self, was: int, paused: float, evicted_s: float, log_mark: int) -> None:
        """Record the resumption, wait until the bridge is back in its groups, say what it did."""
        resumed = time.monotonic()
        paused_s = resumed - paused
        self.history.record("nemesis", INFO, "resume", fault="pause", paused_s=paused_s)
        self._wait_rejoined()
        replaced = self.stack.pid("bridge") != was
        note = (
            f"evicted {evicted_s:.1f}s after SIGSTOP, SIGCONT after {paused_s:.1f}s"
            + ("; the supervisor replaced the paused bridge" if replaced else "")
            + f"; {self._commit_refusals(log_mark)} commit refusals logged after SIGCONT"
        )
        self.notes.append(note)
        recovery_s = round(time.monotonic() - resumed, 3)
        self.history.record(
            "nemesis", INFO, "recovered", fault="pause", recovery_s=recovery_s, note=note
        )

    def _start_standby(self) -> None:
        """A second bridge: the supervised one's command line and environment, another
        port and another replica's id (the same static member ids would fence one another)."""
        bridge = self.stack.pid("bridge")
        if bridge is None:
            raise RuntimeError("no bridge to copy the environment from")
        env = processes.environ_of(bridge)
        argv = processes.cmdline_of(bridge)
        port = free_port()
        env["EVENTFN_BRIDGE_PORT"] = str(port)
        env["EVENTFN_BRIDGE_INSTANCE_ID"] = "faults-standby"
        log = self.stack.log("bridge-standby").open("ab")
        with log:
            self._standby = subprocess.Popen(
                argv,
                env=env,
                cwd=ROOT,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        standby = self._standby
        wait_until(
            lambda: standby.poll() is not None or http_ready(f"http://127.0.0.1:{port}/readyz"),
            timeout=60,
            what="the standby bridge to be ready",
        )
        if standby.poll() is not None:
            raise RuntimeError(f"the standby bridge exited with {standby.returncode}")
        wait_until(
            lambda: all(len(groups.members(self._admin, g)) >= 2 for g in self.group_names),
            timeout=60,
            what="both bridges in every group",
        )

    def _members(self) -> dict[str, set[str]]:
        return {group: groups.members(self._admin, group) for group in self.group_names}

    def _wait_evicted(self, zombie_ids: dict[str, set[str]], paused: float) -> float:
        def gone() -> bool:
            return not any(ids & zombie_ids[g] for g, ids in self._members().items())

        try:
            wait_until(gone, timeout=self.eviction_timeout_s, what="the paused bridge's eviction")
        except WaitTimeoutError:
            self.notes.append(f"not evicted within {self.eviction_timeout_s:.0f}s")
        return time.monotonic() - paused

    def _wait_standby_past(self, ends: dict[int, tuple[int, int]]) -> None:
        def past() -> bool:
            for group in self.group_names:
                offsets = groups.committed(self._admin, group)
                if any(offsets.get((self.topic, p), -1) <= high for p, (_, high) in ends.items()):
                    return False
            return True

        try:
            wait_until(past, timeout=60, what="the standby to commit past the paused bridge")
        except WaitTimeoutError:
            self.notes.append("the standby did not commit past the paused bridge within 60s")

    def _wait_rejoined(self) -> None:
        wait_until(
            lambda: (
                self.stack.pid("bridge") is not None
                and self.stack.healthy("bridge")
                and all(len(groups.members(self._admin, g)) >= 2 for g in self.group_names)
            ),
            timeout=120,
            what="the resumed bridge to rejoin its groups",
        )

    def _log_size(self) -> int:
        try:
            return self.stack.log("bridge").stat().st_size
        except OSError:
            return 0

    def _commit_refusals(self, mark: int) -> int:
        with self.stack.log("bridge").open("rb") as log:
            log.seek(mark)
            text = log.read().decode(errors="replace").lower()
        return sum(1 for line in text.splitlines() if "commit" in line and "fail" in line)
