"""Where the CPU went during a measurement, in cores, per part of the stack.

On two cores the broker, PostgreSQL, the gateway, the function instances and
the load client all compete, so each ratio is read beside the CPU each part
got. Parts are this process (the client) and its descendants, named by their
command line; ``exited probes`` is what the probes it ran to completion
meanwhile used (Kafka's ProducerPerformance); ``elsewhere`` is what the rest
of the machine used (another job on a shared machine shows up there).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path

from infra.processes import all_pids, cmdline_of, environ_of

TICKS = os.sysconf("SC_CLK_TCK")
PROC = Path("/proc")
EXITED = "exited probes"


def classify(cmdline: Sequence[str], environ: Mapping[str, str], own: bool) -> str:
    """The part of the stack a process is, from its command line. Pure."""
    if own:
        return "bench client"
    text = " ".join(cmdline)
    if "kafka.Kafka" in cmdline:
        return "kafka"
    if "org.apache.kafka.tools." in text:
        return "kafka tool"
    if cmdline and (cmdline[0].startswith("postgres") or Path(cmdline[0]).name == "postgres"):
        return "postgres"
    if "bridge" in cmdline:
        return "bridge"
    if "gateway" in cmdline:
        return "gateway"
    if any(Path(part).name == "fdk" for part in cmdline[:2]):
        return f"fn {environ.get('FN_FN_NAME', '?')}"
    return "other"


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(parent pid, CPU seconds used so far, CPU seconds of its children already
    reaped) of a process; None when it is gone."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()
    own = (int(fields[11]) + int(fields[12])) / TICKS
    reaped = (int(fields[13]) + int(fields[14])) / TICKS
    return int(fields[1]), own, reaped


def _tree() -> dict[int, tuple[float, float, str]]:
    """(own, reaped children's) CPU seconds and the part of the stack of this
    process and every descendant, by pid."""
    stats = {pid: found for pid in all_pids() if (found := _stat(pid)) is not None}
    children: dict[int, list[int]] = {}
    for pid, (parent, _, _) in stats.items():
        children.setdefault(parent, []).append(pid)
    own = os.getpid()
    mine: dict[int, tuple[float, float, str]] = {}
    todo = [own]
    while todo:
        pid = todo.pop()
        if pid in stats and pid not in mine:
            # Named now: a process that ends before the measurement does still
            # had its part (its CPU stays with its parent, once reaped). A
            # zombie has no command line left: it was part of its parent's.
            cmdline = cmdline_of(pid)
            above = mine.get(stats[pid][0])
            if not cmdline and above is not None and pid != own:
                part = above[2]
            else:
                part = classify(cmdline, environ_of(pid), pid == own)
            mine[pid] = (stats[pid][1], stats[pid][2], part)
            todo.extend(children.get(pid, ()))
    return mine


def _machine_busy() -> float:
    """CPU seconds the whole machine spent busy since boot (not idle, not iowait)."""
    fields = [int(x) for x in (PROC / "stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / TICKS


@contextlib.contextmanager
def measure() -> Iterator[dict[str, float]]:
    """Yield a dict that, when the block ends, holds cores used per part meanwhile."""
    result: dict[str, float] = {}
    before, busy_before, began = _tree(), _machine_busy(), time.monotonic()
    yield result
    after, busy_after = _tree(), _machine_busy()
    wall = max(time.monotonic() - began, 1e-9)
    own = os.getpid()
    for pid, (used, reaped, part) in after.items():
        used_before, reaped_before, _ = before.get(pid, (0.0, 0.0, part))
        # A probe this process ran and waited for (Kafka's tool) has exited
        # by now: its CPU is in ours as a reaped child's.
        parts = {part: used - used_before, EXITED: reaped - reaped_before}
        if pid != own:
            parts = {part: used - used_before + reaped - reaped_before}
        for name, seconds in parts.items():
            result[name] = result.get(name, 0.0) + seconds / wall
    ours = sum(result.values())
    result["elsewhere"] = max(0.0, (busy_after - busy_before) / wall - ours)
    for part in list(result):
        result[part] = round(result[part], 2)
        if result[part] == 0.0:
            del result[part]
