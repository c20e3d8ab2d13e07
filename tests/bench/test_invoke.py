"""Row 6's pure parts: which instance is called directly, and the rows."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.invoke import newest_instance, paired_differences, rows, warmup_pairs
from bench.sizes import TINY


def test_the_newest_instance_is_the_highest_numbered():
    sockets = [Path(f"/run/fn/persist-{n}/lsnr.sock") for n in (3, 12, 7)]
    assert newest_instance(sockets) == Path("/run/fn/persist-12/lsnr.sock")
    assert newest_instance([Path("/run/fn/stray/lsnr.sock")]) is None
    assert newest_instance([]) is None


def test_paired_differences_subtract_call_by_call():
    assert paired_differences([3.0, 2.5], [1.0, 2.0]) == [2.0, 0.5]
    with pytest.raises(ValueError, match="longer"):
        paired_differences([1.0], [1.0, 2.0])


def test_the_overhead_target_is_on_the_difference_of_the_p50s():
    through = [2.0] * 98 + [9.0, 9.0]
    straight = [1.5] * 98 + [4.0, 4.0]
    p50, p99 = rows(TINY, through, straight, 0, 1, {})
    assert (p50.figure, p50.limit) == (2.0, 1.5)
    assert p50.ratio == pytest.approx(0.75)
    assert [t.met for t in p50.targets] == [True]
    assert "+0.50 ms" in p50.name
    assert (p99.figure, p99.limit) == (9.0, 4.0)
    assert p99.targets == ()
    assert p99.detail["overhead_p99_ms"] == 5.0


def test_an_overhead_over_a_millisecond_misses_the_target():
    p50, _ = rows(TINY, [3.0] * 10, [1.0] * 10, 0, 1, {})
    assert [t.met for t in p50.targets] == [False]


def test_warm_up_is_a_tenth_of_the_calls_and_at_least_twenty():
    assert warmup_pairs(2_000) == 200
    assert warmup_pairs(100) == 20
