"""Exponential backoff, eventfn's one: how long to wait before trying again.

The bridge retrying a function, the gateway starting an instance again and
the supervisor restarting a component all wait by it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# 2**64 times any initial delay is past every cap; larger powers overflow a float.
_MAX_DOUBLINGS = 64


@dataclass(frozen=True)
class Backoff:
    """``initial_s``, doubled after each further failure, never over ``cap_s``."""

    initial_s: float = 0.5
    cap_s: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after ``failures`` failures in a row (none: no wait)."""
        if failures <= 0:
            return 0.0
        return min(self.cap_s, self.initial_s * 2.0 ** min(failures - 1, _MAX_DOUBLINGS))

    def jittered(
        self, failures: int, retry_after_s: float | None = None, rng: random.Random | None = None
    ) -> float:
        """The delay with equal jitter (between half of it and all of it), so that
        callers failing together do not retry together; never sooner than a
        server's Retry-After."""
        ceiling = self.delay(failures)
        return max((rng or random).uniform(ceiling / 2, ceiling), retry_after_s or 0.0)
