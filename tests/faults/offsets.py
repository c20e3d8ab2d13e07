"""Samples the bridge groups' committed offsets every ~100 ms, for the stale-commit check.

A zombie (a bridge paused past its session, then resumed) must not commit
offsets its successor has already moved past: per group and partition the
committed offset may only grow. Samples are appended to ``offsets.jsonl`` in
the run directory as ``[t, group, partition, offset]``.

The sampling runs in a child process (``python -m tests.faults.offsets``):
librdkafka 2.16's admin client can abort the whole process (``Assertion
`eonce->refcnt > 0' failed``) when the broker dies under a pending request,
and that must not take the run, and its clean-up, down with it. The parent
starts it again when that happens and counts the crashes.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import orjson

from tests.faults import groups
from tests.faults.checker import OffsetSample
from tests.faults.stack import ROOT

_MAX_RESTARTS = 50


class OffsetSampler:
    """Keeps one sampling child running until :meth:`finish`."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        group_names: Sequence[str],
        path: Path,
        interval_s: float = 0.1,
        max_s: float = 3600.0,
    ) -> None:
        self.path = path
        self.crashes = 0
        self._argv = [
            sys.executable,
            "-m",
            "tests.faults.offsets",
            bootstrap,
            topic,
            ",".join(group_names),
            str(path),
            str(interval_s),
            str(max_s),
        ]
        self._stop = threading.Event()
        self._process: subprocess.Popen[bytes] | None = None
        self._deadline = time.monotonic() + max_s
        self._thread = threading.Thread(target=self._keep_running, name="offsets", daemon=True)

    def start(self) -> None:
        self.path.touch()
        self._thread.start()

    def finish(self) -> list[OffsetSample]:
        """Stop the child and return every sample it wrote."""
        self._stop.set()
        process = self._process
        if process is not None and process.poll() is None:
            process.terminate()
        self._thread.join(30)
        return read(self.path)

    def _keep_running(self) -> None:
        env = {**os.environ, "PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}"}
        while not self._stop.is_set() and time.monotonic() < self._deadline:
            self._process = subprocess.Popen(
                self._argv, env=env, cwd=ROOT, stdin=subprocess.DEVNULL, stderr=subprocess.PIPE
            )
            try:
                _, err = self._process.communicate(timeout=self._deadline - time.monotonic() + 5)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
                return
            if self._stop.is_set() or self._process.returncode == 0:
                return
            self.crashes += 1
            with (self.path.parent / "logs" / "offset-sampler.log").open("ab") as log:
                log.write(err)
            if self.crashes >= _MAX_RESTARTS:
                return


def read(path: Path) -> list[OffsetSample]:
    samples = []
    with path.open("rb") as handle:
        for line in handle:
            try:
                t, group, partition, offset = orjson.loads(line)
            except (orjson.JSONDecodeError, ValueError):
                continue  # a line cut short by a crash
            samples.append(OffsetSample(t, group, partition, offset))
    return samples


def sample(
    bootstrap: str,
    topic: str,
    group_names: Sequence[str],
    out: Path,
    interval_s: float,
    max_s: float,
) -> None:
    """The child's loop: append samples until SIGTERM, the parent's death or ``max_s``."""
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda _signum, _frame: stop.set())
    parent = os.getppid()
    client = groups.admin(bootstrap)
    deadline = time.monotonic() + max_s
    with out.open("ab") as handle:
        while not stop.wait(interval_s) and time.monotonic() < deadline:
            if os.getppid() != parent:
                return
            for group in group_names:
                try:
                    offsets = groups.committed(client, group)
                except Exception:  # noqa: S112 - the broker may be down: that is the fault
                    continue
                now = time.time()
                lines = (
                    orjson.dumps([now, group, partition, offset]) + b"\n"
                    for (name, partition), offset in sorted(offsets.items())
                    if name == topic
                )
                handle.write(b"".join(lines))
                handle.flush()


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.faults.offsets")
    for name in ("bootstrap", "topic", "groups", "out", "interval_s", "max_s"):
        parser.add_argument(name)
    args = parser.parse_args(argv)
    sample(
        args.bootstrap,
        args.topic,
        args.groups.split(","),
        Path(args.out),
        float(args.interval_s),
        float(args.max_s),
    )


if __name__ == "__main__":
    main(sys.argv[1:])
