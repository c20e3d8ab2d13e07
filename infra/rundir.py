"""The layout of a run directory (``.run/`` by default): one place names every path."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class RunDir:
    """Paths under one run directory; nothing here touches the disk."""

    path: Path

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def pids(self) -> Path:
        return self.path / "pids"

    @property
    def kafka(self) -> Path:
        return self.path / "kafka"

    @property
    def alertmanager(self) -> Path:
        return self.path / "alertmanager"

    @property
    def postgres(self) -> Path:
        return self.path / "postgres"

    @property
    def env_file(self) -> Path:
        """``KEY=value`` lines for clients: ``set -a; . .run/env``."""
        return self.path / "env"

    @property
    def status_file(self) -> Path:
        """The supervisor's view of its components, rewritten on every change."""
        return self.path / "status.json"

    @property
    def lock_file(self) -> Path:
        """Held (flock) by the live supervisor for as long as it runs."""
        return self.path / "supervisor.lock"

    @property
    def control_lock_file(self) -> Path:
        """Held (flock) by ``up`` and ``down`` so two of them never sweep or spawn at once."""
        return self.path / "control.lock"

    def log(self, component: str) -> Path:
        return self.logs / f"{component}.log"

    def pidfile(self, component: str) -> Path:
        return self.pids / f"{component}.pid"

    def create(self) -> None:
        """Make the run directory and its logs/pids folders."""
        for folder in (self.path, self.logs, self.pids):
            folder.mkdir(parents=True, exist_ok=True)


def tail(path: Path, lines: int = 40) -> str:
    """The last ``lines`` lines of a log file, or a note that it does not exist."""
    try:
        with path.open("rb") as handle:
            handle.seek(0, 2)
            size = handle.tell()
            handle.seek(max(0, size - 64 * 1024))
            text = handle.read().decode(errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])
