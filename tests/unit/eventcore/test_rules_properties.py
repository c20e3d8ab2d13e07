"""Properties of alert rules: any rule file is rules or a RuleError, and a rule
that loaded evaluates any event without raising."""

import yaml
from hypothesis import example, given, settings
from hypothesis import strategies as st

from eventcore.cloudevent import validate_event
from eventcore.errors import RuleError
from eventcore.rules import MESSAGE_FIELDS, Rule, load_rules, match, read_value, render

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.sampled_from(["ALERT:90", "ALERT : 1e3", "80", "-1.5", "nan", "inf", "x:y", ""])
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.sampled_from(["value", "a", "b", ""]) | st.text(max_size=5), inner)
    ),
    max_leaves=12,
)
# Messages made of replacement fields, with conversions, specs and fields nested
# in specs, and names the rules know and do not know; random text rarely is one.
field_names = st.sampled_from(sorted(MESSAGE_FIELDS)) | st.sampled_from(["x", "0", "type.x"])
specs = st.sampled_from(["", ">10", ".1f", "d", "x", "{"]) | field_names.map("{{{}}}".format)
replacements = st.builds(
    lambda name, conversion, spec: "{" + name + conversion + (":" + spec if spec else "") + "}",
    field_names,
    st.sampled_from(["", "!r", "!s", "!x"]),
    specs,
)
messages = st.lists(
    replacements | st.sampled_from(["temperature ", "{{", "}}", "}", " at "]),
    min_size=1,
    max_size=4,
).map("".join)
rule_fields = st.fixed_dictionaries(
    {"name": st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,10}", fullmatch=True)},
    optional={
        "type": st.sampled_from(["*", "TEMP", "TEMP*", "[", "[!A]*"]),
        "field": st.sampled_from(["value", "a.b", "", "value.x", "."]),
        "label": st.sampled_from(["ALERT", "x"]),
        "op": st.sampled_from([">", ">=", "<", "<=", "==", "!="]),
        "threshold": st.floats(allow_nan=False, allow_infinity=False) | st.integers(-100, 100),
        "severity": st.sampled_from(["warning", "critical"]),
        "for": st.sampled_from(["0s", "10s", "1m30s", "soon", 5]),
        "group_by": st.sampled_from([["source"], ["data.a"], ["subject", "type"], ["x"]]),
        "absent_for": st.sampled_from(["5m", "0s"]),
        "window": st.sampled_from([{"size": "1m"}, {"size": "1m", "every": "10s"}, {}]),
        "aggregate": st.sampled_from(["count", "avg", "median"]),
        "message": messages,
    },
)
yaml_snippets = st.sampled_from(
    [
        "rules: []",
        "rules:\n- name: a\n  threshold: 2001-02-30\n",
        "rules:\n- name: a\n  threshold: !!float abc\n",
        "rules: &a [*a]",
        "rules:\n- name: a\n  threshold: 1\n  op: =>\n",
        "[" * 600,
        "- " * 600 + "x",
        "rules:\n- {name: a, threshold: .inf}",
        "rules:\n- {name: a, label: ALERT, message: '{value:{nope}}'}",
    ]
)
rule_files = st.one_of(
    st.lists(rule_fields, max_size=3).map(lambda rules: yaml.safe_dump({"rules": rules})),
    yaml_snippets,
    st.text(max_size=200),
)


@settings(max_examples=300)
@given(text=rule_files)
@example(text="rules:\n- name: a\n  threshold: 2001-02-30\n")
def test_any_rule_file_is_rules_or_a_rule_error(text):
    try:
        rules = load_rules(text)
    except RuleError:
        return
    assert all(isinstance(rule, Rule) for rule in rules)


@st.composite
def events(draw):
    return validate_event(
        {
            "specversion": "1.0",
            "id": draw(st.text(min_size=1, max_size=8).filter(lambda t: "\x00" not in t)),
            "source": "/s",
            "type": draw(st.sampled_from(["TEMP", "TEMPERATURE", "LOG", "[x]"])),
            "data": draw(json_values),
            **draw(st.fixed_dictionaries({}, optional={"subject": st.just("room-1")})),
        }
    )


@settings(max_examples=500)
@given(fields=st.lists(rule_fields, min_size=1, max_size=3), event=events())
@example(
    fields=[{"name": "nested", "threshold": 1, "message": "{value:>{x}}"}],
    event=validate_event({"specversion": "1.0", "id": "1", "source": "/s", "type": "T"}),
)
def test_rules_that_load_evaluate_any_event_without_raising(fields, event):
    named = [{**rule, "name": f"{rule['name']}-{n}"} for n, rule in enumerate(fields)]
    try:
        rules = load_rules(yaml.safe_dump({"rules": named}))
    except RuleError:
        return
    for rule in rules:
        found = match(rule, event)
        assert found is None or found.holds in (True, False, None)
    # Whether or not a rule fires for this event, its message renders for it.
    for rule in rules:
        assert isinstance(render(rule, event, read_value(event.data, rule.field)), str)


@settings(max_examples=300)
@given(data=json_values, path=st.sampled_from(["value", "a.b", "", ".", "a..b"]) | st.text())
def test_any_value_reads_as_a_number_a_label_or_neither(data, path):
    reading = read_value(data, path)
    assert reading.number is None or reading.number == reading.number  # never NaN
    assert reading.label is None or reading.label
