"""Row 7's pure parts: stage summaries, matching send and alert times, the
alerting events, the request bodies and the gateway's call-time totals."""

from __future__ import annotations

import orjson
import pytest

from bench.calls import call_means, histogram_totals
from bench.latency import (
    RULES,
    alerting_lines,
    bodies,
    delays_ms,
    settled,
    summary,
)
from eventcore.rules import load_rules

METRICS = """\
# HELP eventfn_function_call_seconds Time from handing a call to an instance to its answer.
# TYPE eventfn_function_call_seconds histogram
eventfn_function_call_seconds_bucket{function="alert",le="0.001"} 0.0
eventfn_function_call_seconds_count{function="alert"} 40.0
eventfn_function_call_seconds_sum{function="alert"} 0.4
eventfn_function_call_seconds_created{function="alert"} 1.7e+09
eventfn_function_call_seconds_count{function="publish"} 100.0
eventfn_function_call_seconds_sum{function="publish"} 0.25
eventfn_function_calls_total{function="alert",status="200"} 40.0
"""


def test_summary_gives_p50_p99_and_max_under_a_prefix_and_nothing_for_no_values():
    values = [float(v) for v in range(1, 101)]
    assert summary(values, "ack_") == {"ack_p50_ms": 50.0, "ack_p99_ms": 99.0, "ack_max_ms": 100.0}
    assert summary([]) == {}


def test_delays_are_in_milliseconds_and_events_without_an_end_are_counted_missing():
    starts = {"a": 10.0, "b": 10.5, "c": 11.0}
    ends = {"a": 10.02, "c": 11.5, "other": 1.0}
    found, missing = delays_ms(starts, ends)
    assert found == pytest.approx([20.0, 500.0])
    assert missing == 1


def test_only_events_that_raise_exactly_one_alert_are_chosen():
    rules = load_rules(RULES.read_text())
    hot = b'{"type":"TEMP","value":"ALERT:90","source":"/s/1"}'
    mild = b'{"type":"TEMP","value":"21.5","source":"/s/1"}'
    humid = b'{"type":"HUMIDITY","value":"99","source":"/s/2"}'
    big = b'{"type":"TRANSACTION","amount":"25000.00","source":"/p"}'
    assert alerting_lines([hot, mild, humid, big], rules) == [hot, big]


def test_bodies_cycle_the_lines_set_the_source_and_group_by_request():
    lines = [b'{"type":"TEMP","value":"90","source":"/a"}', b'{"type":"TEMP","value":"91"}']
    made = bodies(lines, "/bench/run", count=5, per_request=2)
    assert len(made) == 3
    events = [event for body in made for event in orjson.loads(body)]
    assert [event["value"] for event in events] == ["90", "91", "90", "91", "90"]
    assert {event["source"] for event in events} == {"/bench/run"}
    assert len(orjson.loads(made[-1])) == 1


def test_histogram_totals_are_read_per_function():
    assert histogram_totals(METRICS, "eventfn_function_call_seconds") == {
        "alert": (0.4, 40.0),
        "publish": (0.25, 100.0),
    }


def test_call_means_cover_only_the_calls_between_two_scrapes():
    before = {"alert": (0.4, 40.0), "publish": (0.25, 100.0)}
    after = {"alert": (1.4, 140.0), "publish": (0.25, 100.0), "persist": (0.3, 10.0)}
    assert call_means(before, after) == pytest.approx(
        {
            "alert_calls": 100.0,
            "alert_call_mean_ms": 10.0,
            "persist_calls": 10.0,
            "persist_call_mean_ms": 30.0,
        }
    )


def pool(ready: int, desired: int, observed: float, starting: int = 0) -> dict[str, object]:
    return {
        "ready": ready,
        "desired": desired,
        "starting": starting,
        "scaling": {"metric": "rps", "target": 70.0},
        "lastDecision": {"observed": {"panic": {"rps": observed, "concurrency": 0.0}}},
    }


def test_pools_are_settled_only_with_what_they_want_and_room_for_the_load():
    assert settled({"publish": pool(2, 2, 100.0), "alert": pool(1, 1, 0.0)})
    assert not settled({"publish": pool(1, 1, 100.0)})  # 100 requests/s want 2
    assert not settled({"publish": pool(1, 2, 100.0)})  # growing
    assert not settled({"publish": pool(2, 2, 100.0, starting=1)})
    assert settled({"publish": {**pool(1, 1, 0.0), "lastDecision": None}})
