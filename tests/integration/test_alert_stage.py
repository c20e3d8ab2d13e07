"""The alert stage against a real PostgreSQL and Kafka, in-process with a clock of
its own: instances, for, windows, absence, replays, and the rule file's reload."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from eventcore.cloudevent import CloudEvent, format_time, validate_event
from eventcore.schedule import ping
from eventio.alerting import AlertStage
from tests.support import alert_stage, header, read_topic

pytestmark = pytest.mark.integration

RULES = """
rules:
  - {name: hot, type: TEMP, op: ">=", threshold: 80, severity: critical}
  - {name: hot-for-10s, type: HEAT, threshold: 80, for: 10s}
  - name: busy
    type: TX
    window: {size: 1m}
    aggregate: count
    op: ">"
    threshold: 5
    group_by: [data.account]
  - {name: silent, type: BEAT, absent_for: 5s}
"""
T0 = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)


@dataclass
class Clock:
    now: datetime = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass
class Stage:
    stage: AlertStage
    clock: Clock
    db: object
    kafka: str
    pings: list[int] = field(default_factory=lambda: [0])

    def send(self, *events: CloudEvent) -> dict[str, int]:
        return dict(self.stage.handle(list(events)).counts)

    def tick(self) -> dict[str, int]:
        self.pings[0] += 1
        return self.send(ping("/tests", f"ping-{self.pings[0]}", self.clock()))

    def instances(self, rule: str) -> list[tuple]:
        return self.db.execute(  # type: ignore[attr-defined]
            "SELECT state, event_count, event_id, labels FROM alerts WHERE rule = %s ORDER BY id",
            (rule,),
        ).fetchall()

    def transitions(self, rule: str) -> list[tuple[str, str]]:
        return self.db.execute(  # type: ignore[attr-defined]
            "SELECT from_state, to_state FROM alert_transitions t"
            " JOIN alerts a ON a.id = t.alert_id WHERE a.rule = %s ORDER BY t.alert_id, t.seq",
            (rule,),
        ).fetchall()


@pytest.fixture
def stage(tmp_path: Path, db, clean_database: str, kafka_bootstrap: str) -> Iterator[Stage]:
    rules = tmp_path / "rules.yaml"
    rules.write_text(RULES)
    clock = Clock()
    with alert_stage(rules, clean_database, kafka_bootstrap, clock=clock) as running:
        yield Stage(running, clock, db, kafka_bootstrap)


def event(type_: str, n: int, at: datetime, source: str = "/sensor/1", **data: object):
    return validate_event(
        {
            "specversion": "1.0",
            "id": f"{type_.lower()}-{n}-{at.timestamp()}",
            "source": source,
            "type": type_,
            "time": format_time(at),
            "data": data,
        }
    )


def test_fifty_readings_make_one_firing_instance_and_one_of_everything(stage, capsys):
    readings = [
        event("TEMP", n, T0 + timedelta(milliseconds=n), value=90 + n % 3) for n in range(50)
    ]
    assert stage.send(*readings) == {"evaluated": 50, "firing": 1, "resolved": 0, "late": 0}
    ((state, count, last_id, labels),) = stage.instances("hot")
    assert (state, count, last_id) == ("firing", 50, readings[-1].id)
    assert labels == {"source": "/sensor/1", "subject": ""}
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[0] for line in lines] == ["FIRING"]
    (instance_id,) = stage.db.execute("SELECT id FROM alerts WHERE rule = 'hot'").fetchone()
    told = read_topic(
        stage.kafka,
        "alerts",
        lambda ms: any(
            header(m, "ce_subject") == b"hot" and m.key() == instance_id.encode() for m in ms
        ),
    )
    mine = [m for m in told if m.key() == instance_id.encode()]
    assert [header(m, "ce_type") for m in mine] == [b"eventfn.alert.firing"]


def test_a_replayed_batch_changes_nothing(stage, capsys):
    readings = [event("TEMP", n, T0, value=91) for n in range(5)]
    stage.send(*readings)
    before = (stage.instances("hot"), stage.transitions("hot"))
    capsys.readouterr()
    assert stage.send(*readings) == {"evaluated": 5, "firing": 0, "resolved": 0, "late": 0}
    assert (stage.instances("hot"), stage.transitions("hot")) == before
    assert capsys.readouterr().out == ""


def test_an_event_twice_in_one_batch_counts_once(stage):
    reading = event("TEMP", 1, T0, value=91)
    stage.send(reading, reading)
    assert [row[1] for row in stage.instances("hot")] == [1]
    busy = event("TX", 1, T0 + timedelta(seconds=1), account="a-1")
    stage.send(busy, busy)
    (count,) = stage.db.execute("SELECT sum(count) FROM alert_windows").fetchone()
    assert count == 1


def test_a_normal_reading_resolves_at_once_and_says_so(stage, capsys):
    stage.send(event("TEMP", 1, T0, value=91))
    counts = stage.send(event("TEMP", 2, T0 + timedelta(seconds=1), value=20))
    assert counts["resolved"] == 1
    assert [row[0] for row in stage.instances("hot")] == ["resolved"]
    assert stage.transitions("hot") == [
        ("inactive", "pending"),
        ("pending", "firing"),
        ("firing", "resolved"),
    ]
    assert [line.split()[0] for line in capsys.readouterr().out.splitlines()] == [
        "FIRING",
        "RESOLVED",
    ]


def test_for_keeps_a_burst_pending_and_fires_what_holds_long_enough(stage):
    burst = [event("HEAT", n, T0 + timedelta(seconds=n), "/burst", value=95) for n in range(4)]
    held = [event("HEAT", n, T0 + timedelta(seconds=n), "/held", value=95) for n in range(13)]
    stage.send(*burst)
    for reading in held:
        stage.send(reading)
    states = {row[3]["source"]: row[0] for row in stage.instances("hot-for-10s")}
    assert states == {"/burst": "pending", "/held": "firing"}
    assert stage.transitions("hot-for-10s").count(("pending", "firing")) == 1


def test_a_window_fires_once_per_account_when_it_closes_and_replays_count_nothing(stage):
    start = T0 + timedelta(seconds=5)
    busy = [event("TX", n, start + timedelta(seconds=n), account="a-1") for n in range(7)]
    calm = [event("TX", n, start + timedelta(seconds=n), account="a-2") for n in range(3)]
    stage.send(*busy, *calm)
    stage.send(*busy)  # published again, same ids
    assert stage.tick()["firing"] == 0, "the window is still open"
    stage.clock.advance(60)
    assert stage.tick()["firing"] == 1
    firing = {row[3]["account"]: (row[0], row[1]) for row in stage.instances("busy")}
    assert firing["a-1"] == ("firing", 7)
    assert firing.get("a-2", ("inactive", 3))[0] == "inactive"
    assert stage.tick()["firing"] == 0, "a closed window gives its result once"


def test_an_event_for_a_closed_window_is_late_and_counts_nowhere(stage):
    stage.clock.advance(120)
    old = event("TX", 1, T0 + timedelta(seconds=10), account="a-3")
    assert stage.send(old)["late"] == 1
    assert stage.db.execute("SELECT count(*) FROM alert_windows").fetchone() == (0,)


def test_an_event_from_the_end_of_time_is_late_not_a_failure(stage):
    far = event("TX", 1, datetime(9999, 12, 31, 23, 59, 30, tzinfo=UTC), account="a-9")
    assert stage.send(far)["late"] == 1


def test_a_silent_group_fires_after_absent_for_and_resolves_when_it_reports(stage):
    stage.send(event("BEAT", 1, T0))
    stage.clock.advance(3)
    assert stage.tick()["firing"] == 0
    stage.clock.advance(3)
    assert stage.tick()["firing"] == 1
    stage.clock.advance(1)
    assert stage.send(event("BEAT", 2, stage.clock()))["resolved"] == 1
    assert stage.transitions("silent") == [("inactive", "firing"), ("firing", "resolved")]


def test_a_firing_instance_with_no_event_for_resolve_after_resolves_on_a_tick(stage):
    stage.send(event("TEMP", 1, T0, value=91))
    stage.clock.advance(299)
    assert stage.tick()["resolved"] == 0
    stage.clock.advance(1)
    assert stage.tick()["resolved"] == 1


def test_a_changed_rule_file_is_used_and_a_broken_one_is_not(stage, tmp_path, caplog):
    path = stage.stage.rules.path
    path.write_text("rules:\n  - {name: hot, type: TEMP, threshold: 95}\n")
    assert stage.send(event("TEMP", 1, T0, value=91))["firing"] == 0
    path.write_text("rules:\n  - {name: hot, type: TEMP, threshold: 95}\n  - {name: x, op: '=>'}\n")
    assert stage.send(event("TEMP", 2, T0, value=96))["firing"] == 1
    assert "line 3: rules[1].op" in caplog.text
