"""Running one of eventfn's Python services (``python -m gateway``, the bridge)
in the foreground of a block: started, waited for until healthy, stopped.

The supervisor keeps services up for run-all; this is for callers that own a
service for a while, such as the benchmarks and the tests.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

from infra.errors import StartupError
from infra.waiting import http_ready, wait_until


@contextlib.contextmanager
def serving(
    module: str,
    env: Mapping[str, str],
    ready_url: str,
    log_path: Path,
    *,
    timeout_s: float = 30.0,
    grace_s: float = 20.0,
    cwd: Path | None = None,
) -> Iterator[subprocess.Popen[bytes]]:
    """``python -m module`` with exactly ``env`` until the block ends; it must
    answer 200 on ``ready_url`` within ``timeout_s`` (StartupError otherwise,
    with the end of its log)."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", module],
            env=dict(env),
            cwd=cwd,
            stdout=log,
            stderr=log,
            start_new_session=True,
        )
    try:
        # Stop waiting as soon as it is ready or has died, whichever comes first.
        wait_until(
            lambda: process.poll() is not None or http_ready(ready_url),
            timeout=timeout_s,
            what=f"{module} to be ready",
        )
        if process.poll() is not None:
            tail = log_path.read_text(errors="replace")[-3000:]
            raise StartupError(f"{module} exited with {process.returncode}:\n{tail}")
        yield process
    finally:
        stop(process, grace_s)


def stop(process: subprocess.Popen[bytes], grace_s: float = 20.0) -> None:
    """SIGTERM, a bounded wait, then SIGKILL to its whole process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(grace_s)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
