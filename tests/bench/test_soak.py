"""The soak's verdict, from made-up samples: pure, no stack."""

from bench.latency import Sent
from bench.soak import Sample, Soak, growth, judge, report


def sample(at: float, gateway_mib: int, lag: int = 0) -> Sample:
    return Sample(at, {"gateway": gateway_mib * 2**20}, {"persist": lag, "alert": lag})


def sent(count: int, status: int = 202) -> list[Sent]:
    return [Sent(0.0, 0.0, 0.01, status, (f"id-{i}",)) for i in range(count)]


def test_growth_is_the_last_quarters_peak_against_the_end_of_the_warm_up():
    samples = [sample(0, 50), sample(20, 100), sample(50, 104), sample(90, 109), sample(100, 105)]
    assert round(growth(samples, "gateway", warmed_at=20) or 0, 2) == 0.09
    assert growth(samples, "bridge", warmed_at=20) is None


def test_a_soak_that_held_passes_every_check():
    soak = Soak(1_000, 100, sent(50), [sample(t, 100, lag=200) for t in range(0, 101, 10)], 50)
    verdict = judge(soak)
    assert verdict.ok, verdict.lines
    assert "| s | gateway MiB | persist lag | alert lag |" in report(soak, verdict)


def test_lost_rows_memory_growth_and_unbounded_lag_each_fail():
    held = [sample(t, 100) for t in range(0, 101, 10)]
    assert not judge(Soak(1_000, 100, sent(50), held, 49, missing=1)).ok
    assert not judge(Soak(1_000, 100, sent(50), held, 51)).ok
    assert not judge(Soak(1_000, 100, sent(50) + sent(1, 503), held, 50)).ok
    leaking = [sample(t, 100 + t) for t in range(0, 101, 10)]
    failed = judge(Soak(1_000, 100, sent(50), leaking, 50))
    assert not failed.ok
    assert any("FAILED: gateway RSS" in line for line in failed.lines)
    lagging = [sample(t, 100, lag=t * 100) for t in range(0, 101, 10)]
    assert not judge(Soak(1_000, 100, sent(50), lagging, 50)).ok


def test_rows_of_a_failed_request_are_not_counted_as_lost_but_the_failure_is():
    held = [sample(t, 100) for t in range(0, 101, 10)]
    verdict = judge(Soak(1_000, 100, sent(50) + sent(1, 599), held, 51))
    lost = "ok: acknowledged 50, stored 51, acknowledged but not stored 0, stored beyond them 1"
    assert lost in verdict.lines
    assert "FAILED: failed publish requests 1" in verdict.lines
    assert not verdict.ok
