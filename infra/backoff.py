"""Restart delays for supervised components: exponential, capped, forgiven after stability."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """How long to wait before restarting a component that died.

    A component that stayed up at least ``stable_after`` seconds is treated as
    healthy again, so one crash a day does not inherit yesterday's delay.
    """

    initial: float = 0.5
    maximum: float = 10.0
    stable_after: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait before the restart that follows ``failures`` consecutive deaths."""
        if failures <= 0:
            return 0.0
        return float(min(self.maximum, self.initial * 2 ** (failures - 1)))

    def failures_after_exit(self, failures: int, uptime: float) -> int:
        """The consecutive-failure count once a process that ran ``uptime`` seconds exited."""
        return 1 if uptime >= self.stable_after else failures + 1
