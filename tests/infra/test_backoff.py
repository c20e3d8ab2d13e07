"""Restart delays: doubling from the initial delay, capped, forgiven after a stable run."""

from __future__ import annotations

from infra.backoff import Backoff


def test_delay_doubles_up_to_the_cap():
    backoff = Backoff(initial=0.5, maximum=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay(0) == 0.0


def test_failures_reset_after_a_stable_run():
    backoff = Backoff(stable_after=30.0)
    assert backoff.failures_after_exit(4, uptime=2.0) == 5
    assert backoff.failures_after_exit(4, uptime=31.0) == 1
