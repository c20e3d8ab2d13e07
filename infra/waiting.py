"""Waiting on a condition with a deadline, never on a fixed sleep."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import TypeVar

from infra.errors import InfraError

T = TypeVar("T")


class WaitTimeoutError(InfraError):
    """A condition did not hold before its deadline."""


def wait_until(
    probe: Callable[[], T | None],
    *,
    timeout: float,
    what: str,
    interval: float = 0.1,
    max_interval: float = 1.0,
) -> T:
    """Call ``probe`` until it returns something truthy and return that, or raise.

    The interval grows gently up to ``max_interval`` so a slow service is not
    hammered; the last exception the probe raised is kept in the error.
    """
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            result = probe()
        except Exception as exc:  # the probe's failure is the thing being waited out
            last_error = exc
            result = None
        if result:
            return result
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            detail = f": last error: {last_error}" if last_error else ""
            raise WaitTimeoutError(f"timed out after {timeout:.0f}s waiting for {what}{detail}")
        time.sleep(min(interval, remaining))
        interval = min(max_interval, interval * 1.5)


def http_ready(url: str, timeout: float = 2.0) -> bool:
    """True when ``GET url`` answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 - our URL
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False
