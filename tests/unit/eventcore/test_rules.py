import re

import pytest

from eventcore.cloudevent import validate_event
from eventcore.errors import RuleError
from eventcore.rules import Kind, group_of, load_rules, match, read_value, render

RULES = """
rules:
  - name: temperature-high
    type: TEMP
    op: ">="
    threshold: 80
    severity: critical
    message: "temperature {number} from {source} is at or above {threshold}"
  - name: labelled
    type: "*"
    label: ALERT
    severity: warning
  - name: big-payment
    type: TRANSACTION
    field: payment.amount
    op: ">"
    threshold: 1000
"""


def event(type_="TEMP", data=None, **extra):
    return validate_event(
        {
            "specversion": "1.0",
            "id": "e-1",
            "source": "/s",
            "type": type_,
            "data": {"type": type_, "value": "ALERT:90"} if data is None else data,
            **extra,
        }
    )


@pytest.mark.parametrize(
    ("raw", "number", "label"),
    [
        (90, 90.0, None),
        (12.5, 12.5, None),
        ("42", 42.0, None),
        (" -3.5 ", -3.5, None),
        ("ALERT:90", 90.0, "ALERT"),
        ("warn : 1e3", 1000.0, "warn"),
        ("ALERT:high", None, "ALERT"),
        ("hot", None, None),
        ("nan", None, None),
        (True, None, None),
        (None, None, None),
        ({"x": 1}, None, None),
    ],
)
def test_values_are_read_as_numbers_and_labels(raw, number, label):
    reading = read_value({"value": raw}, "value")
    assert (reading.number, reading.label) == (number, label)


def holding(rules, event) -> list[str]:
    """The rules whose condition holds for the event."""
    return [r.name for r in rules if (m := match(r, event)) is not None and m.holds]


def test_the_original_systems_alert_holds_for_the_threshold_and_label_rules():
    rules = load_rules(RULES)
    assert holding(rules, event()) == ["temperature-high", "labelled"]
    found = match(rules[0], event())
    assert found is not None
    assert (found.reading.number, found.labels) == (90.0, {"source": "/s", "subject": ""})
    assert (
        render(rules[0], found.event, found.reading) == "temperature 90 from /s is at or above 80"
    )


def test_below_threshold_the_condition_fails_and_other_types_do_not_match():
    rules = load_rules(RULES)
    below = match(rules[0], event(data={"value": 79.9}))
    assert below is not None
    assert below.holds is False
    assert match(rules[0], event(type_="HUMIDITY", data={"value": 99})) is None
    unlabelled = match(rules[1], event(data={"value": "OK:1"}))
    assert unlabelled is not None
    assert unlabelled.holds is False


def test_a_reading_with_nothing_at_the_field_says_nothing():
    found = match(load_rules(RULES)[0], event(data={"other": 1}))
    assert found is not None
    assert found.holds is None


def test_nested_field_and_strict_comparison():
    rules = load_rules(RULES)
    assert holding(rules, event("TRANSACTION", {"payment": {"amount": 1000.5}})) == ["big-payment"]
    assert holding(rules, event("TRANSACTION", {"payment": {"amount": 1000}})) == []


def test_scalar_data_is_its_own_value():
    found = match(load_rules(RULES)[0], event(data=85))
    assert found is not None
    assert (found.holds, found.reading.number) == (True, 85.0)


def test_groups_come_from_attributes_and_data_paths():
    (r,) = load_rules(
        "rules: [{name: a, threshold: 1, group_by: [type, data.account.id, data.kind]}]"
    )
    assert r.group_labels == ("type", "account_id", "kind")
    grouped = group_of(r, event("TX", {"account": {"id": 7}, "kind": {"x": 1}}))
    assert grouped == {"type": "TX", "account_id": "7", "kind": ""}


def test_durations_kinds_and_defaults():
    window, absent, plain = load_rules(
        """
rules:
  - {name: w, type: TX, window: {size: 1m, every: 10s}, aggregate: count, threshold: 5}
  - {name: s, type: TEMP, absent_for: 5m}
  - {name: p, threshold: 1, for: 1m30s, keep_firing_for: 500ms}
"""
    )
    assert (window.kind, absent.kind, plain.kind) == (Kind.WINDOW, Kind.ABSENCE, Kind.THRESHOLD)
    assert window.window is not None
    assert (window.window.size, window.window.hop) == (60, 10)
    assert absent.absent_for == 300
    assert (plain.for_, plain.keep_firing_for, plain.resolve_after) == (90, 0.5, 300)
    assert plain.group_by == ("source", "subject")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("rules: [{name: a, type: T}]", "needs a threshold, a label, or both"),
        (
            "rules: [{name: a, threshold: 1, message: '{secret}'}]",
            "message field {secret} is unknown",
        ),
        ("rules: [{name: a, threshold: 1, op: '=>'}]", "rules[0].op"),
        ("rules: [{name: a, threshold: 1, colour: red}]", "rules[0].colour"),
        ("rules: [{name: a, threshold: 1}, {name: a, threshold: 2}]", "used twice"),
        ("rules: [", "not valid YAML"),
        ("rules: [{name: a, threshold: 1, for: soon}]", "'soon' is not a duration"),
        ("rules: [{name: a, window: {size: 1m}, threshold: 1}]", "window and aggregate go"),
        ("rules: [{name: a, window: {size: 1m}, aggregate: sum}]", "needs a threshold"),
        (
            "rules: [{name: a, window: {size: 1m, every: 2m}, aggregate: sum, threshold: 1}]",
            "every must not be longer than size",
        ),
        ("rules: [{name: a, absent_for: 1m, for: 1m}]", "do not go with absent_for"),
        ("rules: [{name: a, threshold: 1, lateness: 5s}]", "lateness goes with a window"),
        ("rules: [{name: a, threshold: 1, labels: {severity: x}}]", "'severity' is named twice"),
        ("rules: [{name: a, threshold: 1, labels: {source: x}}]", "'source' is named twice"),
        ("rules: [{name: a, threshold: 1, labels: {__x: y}}]", "rules[0].labels"),
        ("rules: [{name: a, threshold: 1, group_by: [id]}]", "rules[0].group_by"),
    ],
)
def test_bad_rule_files_say_what_is_wrong(text, message):
    with pytest.raises(RuleError, match=re.escape(message)):
        load_rules(text)


def test_the_shipped_rules_load():
    from pathlib import Path

    rules = load_rules((Path(__file__).parents[3] / "functions/alert/rules.yaml").read_text())
    assert "temperature-high" in {rule.name for rule in rules}
