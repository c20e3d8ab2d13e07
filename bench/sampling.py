"""A probe taken on a fixed cadence in a thread while a block runs."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import TypeVar

T = TypeVar("T")


@contextlib.contextmanager
def sampling(
    probe: Callable[[], T], every: float, name: str = "bench-samples"
) -> Iterator[list[T]]:
    """``probe()`` every ``every`` seconds while the block runs, and once more
    when it ends (so the list always holds the state the block left)."""
    samples: list[T] = []
    stop = threading.Event()

    def loop() -> None:
        while not stop.is_set():
            samples.append(probe())
            stop.wait(every)

    thread = threading.Thread(target=loop, name=name, daemon=True)
    thread.start()
    try:
        yield samples
    finally:
        stop.set()
        thread.join()
        samples.append(probe())
