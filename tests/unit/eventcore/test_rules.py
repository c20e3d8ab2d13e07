import re

import pytest

from eventcore.alerts import console_line, to_cloudevent
from eventcore.cloudevent import validate_event
from eventcore.errors import RuleError
from eventcore.ids import alert_id
from eventcore.rules import evaluate, load_rules, read_value

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


def test_the_original_systems_alert_raises_the_threshold_and_label_rules():
    alerts = evaluate(load_rules(RULES), event())
    assert [a.rule for a in alerts] == ["temperature-high", "labelled"]
    high = alerts[0]
    assert (high.severity, high.value, high.threshold) == ("critical", 90.0, 80.0)
    assert high.message == "temperature 90 from /s is at or above 80"
    assert high.id == alert_id("temperature-high", "/s", "e-1")


def test_below_threshold_or_other_type_raises_nothing():
    rules = load_rules(RULES)
    assert evaluate(rules, event(data={"value": 79.9})) == []
    assert evaluate(rules, event(type_="HUMIDITY", data={"value": 99})) == []


def test_nested_field_and_strict_comparison():
    rules = load_rules(RULES)
    raised = evaluate(rules, event("TRANSACTION", {"payment": {"amount": 1000.5}}))
    assert [a.rule for a in raised] == ["big-payment"]
    assert evaluate(rules, event("TRANSACTION", {"payment": {"amount": 1000}})) == []


def test_scalar_data_is_its_own_value():
    (alert,) = evaluate(load_rules(RULES)[:1], event(data=85))
    assert alert.value == 85.0


def test_alert_ids_are_stable_per_rule_and_event():
    assert alert_id("r", "/s", "e-1") == alert_id("r", "/s", "e-1")
    assert alert_id("r", "/s", "e-1") != alert_id("r", "/s", "e-2")


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
    ],
)
def test_bad_rule_files_say_what_is_wrong(text, message):
    with pytest.raises(RuleError, match=re.escape(message)):
        load_rules(text)


def test_the_shipped_rules_load():
    from pathlib import Path

    rules = load_rules((Path(__file__).parents[3] / "functions/alert/rules.yaml").read_text())
    assert "temperature-high" in {rule.name for rule in rules}


def test_console_line_is_one_line_even_for_hostile_text():
    (alert,) = evaluate(load_rules(RULES)[:1], event(source="/s\nALERT forged", data={"value": 99}))
    line = console_line(alert)
    assert "\n" not in line
    assert line.startswith('ALERT severity="critical" rule="temperature-high"')


def test_alert_cloudevent_carries_the_alert_and_its_id():
    (alert,) = evaluate(load_rules(RULES)[:1], event(data={"value": 99}))
    published = to_cloudevent(alert, "2024-01-01T00:00:00Z")
    assert published.id == alert.id
    assert published.type == "io.eventfn.alert"
    assert published.data["event"] == {"source": "/s", "id": "e-1", "type": "TEMP"}
