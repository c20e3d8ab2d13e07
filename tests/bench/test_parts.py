"""The benchmark's pure parts: payload, parsing, statistics and the report."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bench.cpu import classify
from bench.ingest import batch_bodies
from bench.kafka_limits import LimitError, parse_summary
from bench.payload import events, json_array, read_payload, write_payload
from bench.report import Report, Row, Target, at_least, at_most
from bench.sizes import FULL, QUICK, TINY
from bench.stats import latency_summary, median, percentile
from eventcore import ingest, rules
from tests.support import ROOT

TOOL_OUTPUT = """\
Reading payloads from: /tmp/events.ndjson
Number of messages read: 2000
98417 records sent, 19679.5 records/sec (2.57 MB/sec), 830.2 ms avg latency, 1201.0 ms max latency.
200000 records sent, 31876.494950 records/sec (4.16 MB/sec), 703.91 ms avg latency, \
1201.00 ms max latency, 688 ms 50th, 1104 ms 95th, 1170 ms 99th, 1196 ms 99.9th.
"""


def test_the_payload_is_the_same_for_the_same_seed_and_differs_for_another():
    assert events(500, seed=3) == events(500, seed=3)
    assert events(500, seed=3) != events(500, seed=4)


def test_payload_events_are_plain_objects_of_realistic_sizes():
    lines = events(2_000)
    sizes = [len(line) for line in lines]
    assert min(sizes) >= 60
    assert max(sizes) <= 450
    kinds = {json.loads(line)["type"] for line in lines}
    assert kinds == {"TEMP", "HUMIDITY", "PRESSURE", "LOG", "TRANSACTION"}
    assert all("id" not in json.loads(line) for line in lines)


def test_the_alerting_share_is_what_the_alert_rules_say():
    lines = events(5_000, alert_fraction=0.04)
    parsed = ingest.parse_request(
        json_array(lines), {"content-type": "application/json"}, ingest.Defaults("/b"), 10**8
    )
    loaded = rules.load_rules((ROOT / "functions" / "alert" / "rules.yaml").read_text())

    def alerts(event) -> bool:
        return any((found := rules.match(r, event)) and found.holds for r in loaded)

    assert sum(1 for event in parsed.events if alerts(event)) == 200


def test_a_payload_file_reads_back_line_for_line(tmp_path: Path):
    path = write_payload(tmp_path / "events.ndjson", 300)
    assert read_payload(path) == events(300)


def test_batch_bodies_are_json_arrays_of_the_batch_size():
    payload = events(250)
    bodies = batch_bodies(payload, 100)
    assert len(bodies) == 2
    assert [len(json.loads(body)) for body in bodies] == [100, 100]
    assert len(json.loads(batch_bodies(payload, 1_000)[0])) == 1_000  # wraps round


def test_producer_performance_summary_is_the_line_with_percentiles():
    summary = parse_summary(TOOL_OUTPUT)
    assert summary.records == 200_000
    assert summary.records_per_s == 31876.49495
    assert (summary.p50_ms, summary.p99_ms) == (688, 1170)


def test_a_run_without_a_summary_is_an_error():
    with pytest.raises(LimitError, match="no ProducerPerformance summary"):
        parse_summary("98417 records sent, 19679.5 records/sec (2.57 MB/sec), 1 ms avg latency.")


def test_percentiles_and_median():
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 50) == 50
    assert percentile(values, 99) == 99
    assert percentile([], 50) == 0.0
    assert median([3.0, 1.0, 2.0]) == 2.0
    assert median([4.0, 1.0, 2.0, 3.0]) == 2.5
    assert latency_summary([0.001, 0.002, 0.010])["max_ms"] == 10.0


def test_sizes_grow_from_tiny_to_full():
    for field in ("kafka_tool_records", "confluent_records", "persist_events", "invoke_calls"):
        assert getattr(TINY, field) < getattr(QUICK, field) <= getattr(FULL, field)
    assert QUICK.latency_rate == FULL.latency_rate == 1_000


def test_ratios_run_the_right_way_for_throughput_and_latency():
    faster = Row("3a", "batch", figure=50.0, unit="events/s", limit_name="L1", limit=200.0)
    assert faster.ratio == 0.25
    quicker = Row("6", "invoke", 2.0, "ms", "direct", 1.0, lower_is_better=True)
    assert quicker.ratio == 0.5
    assert at_least(0.25, "L1", faster.ratio).met
    assert not at_most(1.0, "ms", quicker.figure).met


def test_the_report_shows_every_row_limit_and_missed_target():
    row = Row(
        key="3a",
        name="batch ingest",
        figure=1_000.0,
        unit="events/s",
        limit_name="L1",
        limit=10_000.0,
        other_limits={"L2": 4_000.0},
        targets=(Target("≥ 25% of L1", False), Target("≥ 50% of L2", False)),
        settings={"concurrency": 6},
        detail={"p50 ms": 12.5},
    )
    report = Report("tiny", {"cpu": "x", "cores": 2}, [row], "2025-01-01T00:00:00+00:00", 12.0)
    table = report.markdown()
    assert (
        "| 3a | batch ingest | 1,000 events/s | L1: 10,000 events/s<br>L2: 4,000 events/s |"
        in table
    )
    assert "0.10 (L1)<br>0.25 (L2)" in table
    assert "**missed**" in table
    document = report.document()
    assert "concurrency=6" in document
    assert "≥ 25% of L1 missed (1,000 events/s, ratio 0.10 to L1)" in document
    assert "≥ 50% of L2 missed (1,000 events/s, ratio 0.25 to L2)" in document
    data = report.to_json()
    assert data["rows"][0]["ratio"] == 0.1
    assert data["rows"][0]["other_ratios"] == {"L2": 0.25}
    json.dumps(data)


def test_processes_are_named_for_the_part_of_the_stack_they_are():
    venv = "/r/.venv/bin"
    assert classify(["java", "-Xmx512m", "-cp", "x", "kafka.Kafka", "s.properties"], {}, False) == (
        "kafka"
    )
    tool = ["java", "-cp", "x", "org.apache.kafka.tools.ProducerPerformance", "--topic", "t"]
    assert classify(tool, {}, False) == "kafka tool"
    assert classify(["/usr/lib/postgresql/15/bin/postgres", "-D", "d"], {}, False) == "postgres"
    assert classify(["postgres: eventfn eventfn 127.0.0.1(5) idle"], {}, False) == "postgres"
    assert classify([f"{venv}/python", "-m", "gateway"], {}, False) == "gateway"
    assert classify([f"{venv}/python", "-m", "bridge"], {}, False) == "bridge"
    fdk = [f"{venv}/python", f"{venv}/fdk", "/r/functions/publish/func.py", "handler"]
    assert classify(fdk, {"FN_FN_NAME": "publish"}, False) == "fn publish"
    assert classify([f"{venv}/python", "-m", "bench"], {}, True) == "bench client"
