"""Shared bits of the infra tests: the stand-in service and process scans."""

from __future__ import annotations

import sys
from pathlib import Path

from infra import processes
from infra.settings import RUN_DIR

STANDIN = Path(__file__).with_name("standin.py")


def standin_command(*args: str) -> tuple[str, ...]:
    """The stand-in service (tests/integration/infra/standin.py) as an argv."""
    return (sys.executable, str(STANDIN), *args)


def eventfn_processes(run_dir: Path) -> list[int]:
    """Live processes whose environment says they belong to ``run_dir``."""
    return processes.processes_with_env(RUN_DIR, str(run_dir))


def describe(pids: list[int]) -> str:
    return "; ".join(f"{pid}: {' '.join(processes.cmdline_of(pid))}" for pid in pids)
