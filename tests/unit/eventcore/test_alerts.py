"""Telling a firing or resolving: the alerts topic's CloudEvent, the console line,
Alertmanager's alert."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from eventcore.alerts import console_line, to_alertmanager, to_cloudevent, transition_id
from eventcore.instances import EventRef, Instance, State, Transition, key
from eventcore.rules import load_rules

T0 = datetime(2026, 1, 1, 12, 0, tzinfo=UTC)
(HOT,) = load_rules(
    "rules: [{name: hot, type: TEMP, threshold: 80, severity: critical,"
    " labels: {team: plant}, annotations: {runbook: 'https://wiki/hot'}}]"
)
LABELS = {"source": "/sensor/1", "subject": ""}
FIRING = Instance(
    key(HOT, LABELS).id,
    "hot",
    LABELS,
    State.FIRING,
    started_at=T0,
    fired_at=T0,
    last_event=EventRef("/sensor/1\nFIRING forged", "e-50", "TEMP", T0),
    event_count=50,
    value=91.0,
    message="temperature 91",
    transitions=2,
)


def test_ids_depend_only_on_what_they_name():
    assert key(HOT, LABELS).id == key(HOT, dict(reversed(LABELS.items()))).id
    assert key(HOT, LABELS).id != key(HOT, {**LABELS, "subject": "x"}).id
    assert key(HOT, LABELS).group_key == '{"source" : "/sensor/1", "subject" : ""}'
    assert transition_id("i", 1) != transition_id("i", 2)


def test_alertmanager_gets_the_rule_group_and_own_labels_and_an_end_it_must_refresh():
    alert = to_alertmanager(FIRING, HOT, T0, resend_s=60, generator_url="http://gw/")
    assert alert["labels"] == {
        "alertname": "hot",
        "severity": "critical",
        "source": "/sensor/1",
        "team": "plant",
    }
    assert alert["annotations"] == {"summary": "temperature 91", "runbook": "https://wiki/hot"}
    assert alert["startsAt"] == "2026-01-01T12:00:00.000Z"
    assert alert["endsAt"] == "2026-01-01T12:04:00.000Z"
    assert alert["generatorURL"] == f"http://gw/alerts/{FIRING.id}"


def test_a_resolved_alert_ends_when_it_resolved():
    ended = T0 + timedelta(seconds=5)
    resolved = Instance(**{**FIRING.__dict__, "state": State.RESOLVED, "ended_at": ended})
    alert = to_alertmanager(resolved, HOT, T0 + timedelta(minutes=1), 60, "http://gw")
    assert alert["endsAt"] == "2026-01-01T12:00:05.000Z"


def test_the_cloudevent_is_typed_by_the_change_and_named_by_the_transition():
    transition = Transition(FIRING, 2, State.PENDING, State.FIRING, T0, "held")
    event = to_cloudevent(transition, HOT)
    assert (event.type, event.id) == ("eventfn.alert.firing", transition_id(FIRING.id, 2))
    assert event.data["eventCount"] == 50
    assert event.data["lastEvent"]["id"] == "e-50"
    assert event.extensions["partitionkey"] == FIRING.id


def test_the_console_line_is_one_line_even_for_hostile_text():
    transition = Transition(FIRING, 2, State.PENDING, State.FIRING, T0, "held")
    line = console_line(transition, HOT)
    assert "\n" not in line
    assert line.startswith('FIRING severity="critical" rule="hot" group=')
