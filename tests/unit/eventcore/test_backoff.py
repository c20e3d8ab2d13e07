"""Backoff: doubling from the initial delay, capped, jittered, never before Retry-After."""

from __future__ import annotations

import random

from eventcore.backoff import Backoff


def test_delay_doubles_up_to_the_cap_and_is_none_before_a_failure():
    backoff = Backoff(initial_s=0.5, cap_s=10.0)
    assert [backoff.delay(n) for n in range(1, 8)] == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
    assert backoff.delay(0) == 0.0
    assert backoff.delay(100_000) == 10.0


def test_jitter_stays_between_half_the_delay_and_the_delay():
    backoff = Backoff(initial_s=0.5, cap_s=4.0)
    rng = random.Random(7)
    for failures in range(1, 8):
        ceiling = backoff.delay(failures)
        assert ceiling / 2 <= backoff.jittered(failures, rng=rng) <= ceiling


def test_jitter_never_comes_before_retry_after():
    assert Backoff(initial_s=0.5, cap_s=4.0).jittered(1, retry_after_s=9) == 9
