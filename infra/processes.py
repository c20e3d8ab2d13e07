"""Processes on Linux: spawning into own groups, pidfiles, /proc scans, group termination."""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

PROC = Path("/proc")


@dataclass(frozen=True)
class ProcInfo:
    """The fields of ``/proc/<pid>/stat`` this module uses."""

    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    tty_nr: int
    start_ticks: int

    @property
    def zombie(self) -> bool:
        return self.state in ("Z", "X")


def proc_info(pid: int) -> ProcInfo | None:
    """The process's stat fields, or None when it does not exist."""
    try:
        raw = (PROC / str(pid) / "stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # The command name is parenthesised and may itself hold spaces or ')'.
    fields = raw[raw.rindex(")") + 2 :].split()
    return ProcInfo(
        pid=pid,
        state=fields[0],
        ppid=int(fields[1]),
        pgrp=int(fields[2]),
        session=int(fields[3]),
        tty_nr=int(fields[4]),
        start_ticks=int(fields[19]),
    )


def all_pids() -> Iterator[int]:
    for entry in PROC.iterdir():
        if entry.name.isdigit():
            yield int(entry.name)


def environ_of(pid: int) -> dict[str, str]:
    """The process's initial environment; empty when unreadable or gone."""
    try:
        raw = (PROC / str(pid) / "environ").read_bytes()
    except OSError:
        return {}
    env: dict[str, str] = {}
    for item in raw.split(b"\0"):
        key, sep, value = item.partition(b"=")
        if sep:
            env[key.decode(errors="replace")] = value.decode(errors="replace")
    return env


def cmdline_of(pid: int) -> list[str]:
    try:
        raw = (PROC / str(pid) / "cmdline").read_bytes()
    except OSError:
        return []
    return [part.decode(errors="replace") for part in raw.split(b"\0") if part]


def ancestors(pid: int) -> set[int]:
    """``pid`` and every process above it, up to init."""
    seen: set[int] = set()
    while pid > 0 and pid not in seen:
        seen.add(pid)
        info = proc_info(pid)
        if info is None:
            break
        pid = info.ppid
    return seen


def processes_with_env(name: str, value: str) -> list[int]:
    """Live (non-zombie) processes whose environment has ``name=value``."""
    found = []
    for pid in all_pids():
        if environ_of(pid).get(name) == value:
            info = proc_info(pid)
            if info is not None and not info.zombie:
                found.append(pid)
    return found


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) members of process group ``pgid``."""
    members = []
    for pid in all_pids():
        info = proc_info(pid)
        if info is not None and info.pgrp == pgid and not info.zombie:
            members.append(pid)
    return members


# --- pidfiles ---------------------------------------------------------------


@dataclass(frozen=True)
class PidRecord:
    """A pid plus its start time (a recycled pid is never mistaken for ours) and stop signal."""

    pid: int
    start_ticks: int
    stop_signal: int = signal.SIGTERM

    def alive(self) -> bool:
        """True while the very process recorded (not a later one with its pid) runs."""
        info = proc_info(self.pid)
        return info is not None and not info.zombie and info.start_ticks == self.start_ticks


def write_pidfile(path: Path, pid: int, stop_signal: int = signal.SIGTERM) -> None:
    """Record ``pid``; its start time and graceful stop signal go to ``<name>.meta``.

    The pidfile holds the pid alone, as everyone expects, so that
    ``kill $(cat .run/pids/gateway.pid)`` signals that process and nothing else.
    """
    info = proc_info(pid)
    start = info.start_ticks if info else 0
    _replace(_meta(path), f"{start} {int(stop_signal)}\n")
    _replace(path, f"{pid}\n")


def read_pidfile(path: Path) -> PidRecord | None:
    try:
        pid = int(path.read_text().strip())
        start, sig = _meta(path).read_text().split()
        return PidRecord(pid, int(start), int(sig))
    except (OSError, ValueError):
        return None


def remove_pidfile(path: Path) -> None:
    path.unlink(missing_ok=True)
    _meta(path).unlink(missing_ok=True)


def _meta(path: Path) -> Path:
    return path.with_suffix(".meta")


def _replace(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)


# --- spawning and stopping ----------------------------------------------------


def spawn(
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    log: IO[bytes],
    cwd: Path | None = None,
    user: str | None = None,
) -> subprocess.Popen[bytes]:
    """Start ``argv`` in a new session (so it leads its own process group) logging to ``log``.

    ``user`` switches to that system user (for PostgreSQL, which refuses root).
    """
    uid = gid = None
    groups: list[int] | None = None
    if user is not None:
        entry = pwd.getpwnam(user)
        uid, gid, groups = entry.pw_uid, entry.pw_gid, []
    return subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=cwd,
        stdin=subprocess.DEVNULL,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        close_fds=True,
        user=uid,
        group=gid,
        extra_groups=groups,
    )


def signal_group(pgid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, sig)


def wait_group_gone(pgid: int, timeout: float) -> bool:
    """Wait until group ``pgid`` has no live member; True if it emptied in time."""
    deadline = time.monotonic() + timeout
    interval = 0.02
    while group_members(pgid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
        interval = min(0.25, interval * 2)
    return True


def kill_group(pgid: int, first: int = signal.SIGTERM, grace: float = 5.0) -> None:
    """Send ``first`` to the group, wait ``grace`` seconds, then SIGKILL what is left."""
    if not group_members(pgid):
        return
    signal_group(pgid, first)
    if not wait_group_gone(pgid, grace):
        signal_group(pgid, signal.SIGKILL)
        wait_group_gone(pgid, 5.0)


def kill_processes(pids: Sequence[int], grace: float = 5.0) -> None:
    """SIGTERM each pid, wait ``grace`` seconds for all, then SIGKILL the rest."""
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace

    def living() -> list[int]:
        return [p for p in pids if (i := proc_info(p)) is not None and not i.zombie]

    while living() and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in living():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
