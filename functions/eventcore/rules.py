"""Alert rules: which events count, how they are grouped, and when an alert fires.

A rule file is YAML::

    rules:
      - name: temperature-high
        type: TEMP            # event type; shell-style patterns such as "TEMP*" or "*"
        field: value          # dot path into the event data (a scalar data is its own value)
        op: ">="
        threshold: 80
        group_by: [source, subject]   # one alert instance per rule and group (the default)
        for: 10s              # must hold this long (event time) before it fires
        keep_firing_for: 0s   # stays firing this long after it stops holding
        resolve_after: 5m     # a firing instance with no matching event this long resolves
        severity: critical
        labels: {team: plant}             # reach Alertmanager with the group's labels
        annotations: {runbook: https://...}
        message: "temperature {number} at {source} is at or above {threshold}"

Three kinds. A *threshold* rule compares each reading with ``op`` and
``threshold``. A *window* rule (``window: {size: 1m, every: 10s}`` with
``aggregate``) compares an aggregate of the readings of each window, once
the window closes. An *absence* rule (``absent_for: 5m``) fires when a group
that has been seen sends no matching event for that long.

Values are numbers, numeric strings, or the original system's labelled form
``"ALERT:90"`` (label ``ALERT``, number 90); ``label: ALERT`` restricts a rule to
values so labelled, and a rule with a label and no threshold fires on the label
alone.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from enum import Enum
from fnmatch import fnmatchcase
from functools import cached_property
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from eventcore.cloudevent import CloudEvent, problems_from
from eventcore.durations import parse_duration
from eventcore.errors import RuleError

Op = Literal[">", ">=", "<", "<=", "==", "!="]
Aggregate = Literal["count", "sum", "avg", "min", "max", "rate"]
_COMPARE = {
    ">": float.__gt__,
    ">=": float.__ge__,
    "<": float.__lt__,
    "<=": float.__le__,
    "==": float.__eq__,
    "!=": float.__ne__,
}
_LABELLED = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(\S+)\s*")
# An event attribute, or a dot path into its data.
_GROUP_PATH = r"^(source|subject|type|data(\.[A-Za-z0-9_-]+)+)$"
# Alertmanager's (Prometheus') label names; those starting with __ are reserved.
_LABEL_NAME = r"^([A-Za-z][A-Za-z0-9_]*|_[A-Za-z0-9][A-Za-z0-9_]*)$"
# The labels eventfn sets itself on every alert.
RESERVED_LABELS = frozenset({"alertname", "severity"})
MESSAGE_FIELDS = frozenset(
    {
        "rule",
        "severity",
        "type",
        "source",
        "id",
        "subject",
        "time",
        "value",
        "number",
        "label",
        "op",
        "threshold",
        "count",
    }
)


def _seconds(value: Any) -> Any:
    """``10s``, ``1m30s``... as seconds; a bare number is seconds too."""
    if isinstance(value, str):
        return parse_duration(value)
    return value


Duration = Annotated[float, BeforeValidator(_seconds), Field(ge=0, allow_inf_nan=False)]
LabelName = Annotated[str, StringConstraints(pattern=_LABEL_NAME, max_length=128)]
LabelValue = Annotated[str, StringConstraints(max_length=1024)]


class Kind(Enum):
    THRESHOLD = "threshold"
    WINDOW = "window"
    ABSENCE = "absence"


class Window(BaseModel):
    """Event-time windows: tumbling when ``every`` is absent or equals ``size``,
    sliding (hopping) by ``every`` otherwise."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    size: Annotated[Duration, Field(gt=0)]
    every: Annotated[Duration, Field(gt=0)] | None = None

    @property
    def hop(self) -> float:
        return self.every or self.size

    @model_validator(mode="after")
    def _hops_fit(self) -> Window:
        if self.hop > self.size:
            raise ValueError("every must not be longer than size")
        if self.size / self.hop > 1000:
            raise ValueError("a window may overlap at most 1000 others (size / every)")
        return self


class Rule(BaseModel):
    """One alert rule, as written in the rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "*"
    field: Annotated[str, StringConstraints(max_length=256)] = "value"
    label: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")] | None = None
    op: Op = ">="
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    group_by: tuple[Annotated[str, StringConstraints(pattern=_GROUP_PATH)], ...] = (
        "source",
        "subject",
    )
    for_: Duration = Field(default=0.0, alias="for")
    keep_firing_for: Duration = 0.0
    resolve_after: Duration = 300.0
    window: Window | None = None
    aggregate: Aggregate | None = None
    lateness: Duration = 0.0
    absent_for: Annotated[Duration, Field(gt=0)] | None = None
    severity: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "warning"
    labels: dict[LabelName, LabelValue] = Field(default_factory=dict)
    annotations: dict[LabelName, LabelValue] = Field(default_factory=dict)
    message: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = (
        "{type} {value} {op} {threshold}"
    )

    # Cached (the model is frozen): the rules are asked for each event they count.
    @cached_property
    def kind(self) -> Kind:
        if self.window is not None:
            return Kind.WINDOW
        if self.absent_for is not None:
            return Kind.ABSENCE
        return Kind.THRESHOLD

    @cached_property
    def group_labels(self) -> tuple[str, ...]:
        """The label each ``group_by`` path has in Alertmanager: an attribute's
        own name, a data path's without ``data.`` (dots as underscores)."""
        return tuple(label_name(path) for path in self.group_by)

    @cached_property
    def _group_paths(self) -> tuple[tuple[str, str | None, str], ...]:
        """Each ``group_by`` path as (label, event attribute or None, data path)."""
        return tuple(
            (name, None, path.removeprefix("data."))
            if path.startswith("data.")
            else (name, path, "")
            for name, path in zip(self.group_labels, self.group_by, strict=True)
        )

    @cached_property
    def _label_upper(self) -> str | None:
        return self.label.upper() if self.label is not None else None

    @model_validator(mode="after")
    def _usable(self) -> Rule:
        kind_problem = _kind_problem(self)
        if kind_problem:
            raise ValueError(kind_problem)
        names = self.group_labels
        clash = (set(names) & RESERVED_LABELS) | {n for n in names if names.count(n) > 1}
        clash |= (set(names) | RESERVED_LABELS) & set(self.labels)
        if clash:
            raise ValueError(f"label {sorted(clash)[0]!r} is named twice (group_by, labels)")
        known = MESSAGE_FIELDS | set(names)
        for name in _field_names(self.message):
            if name not in known:
                raise ValueError(
                    f"message field {{{name}}} is unknown; use {', '.join(sorted(known))}"
                )
        return self


def _kind_problem(rule: Rule) -> str | None:
    if rule.window is not None or rule.aggregate is not None:
        if rule.window is None or rule.aggregate is None:
            return "window and aggregate go together"
        if rule.threshold is None:
            return "a window rule needs a threshold for its aggregate"
        if rule.absent_for is not None:
            return "absent_for does not go with a window"
        if rule.for_ or rule.keep_firing_for:
            return "for and keep_firing_for do not go with a window (each window decides)"
        return None
    if rule.lateness:
        return "lateness goes with a window"
    if rule.absent_for is not None:
        if rule.for_ or rule.keep_firing_for:
            return "for and keep_firing_for do not go with absent_for"
        return None
    if rule.threshold is None and rule.label is None:
        return "needs a threshold, a label, or both"
    return None


def label_name(path: str) -> str:
    """``data.meta.region`` -> ``meta_region``; ``source`` -> ``source``."""
    return path.removeprefix("data.").replace(".", "_").replace("-", "_")


def _field_names(template: str) -> Iterator[str]:
    """Every field a format string names, those nested in a format spec
    (``{value:>{number}}``) included: str.format looks them all up."""
    for _, name, spec, _ in string.Formatter().parse(template):
        if name is not None:
            yield name
        if spec:
            yield from _field_names(spec)


@dataclass(frozen=True)
class Reading:
    """A value as the rules see it."""

    raw: Any
    number: float | None
    label: str | None


@dataclass(frozen=True)
class Match:
    """An event a rule counts: its group, its reading, and for a threshold rule
    whether the condition holds (None: the reading says nothing either way)."""

    rule: Rule
    event: CloudEvent
    labels: Mapping[str, str]
    reading: Reading
    holds: bool | None


class _RuleFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    rules: list[Rule]


def load_rules(text: str) -> list[Rule]:
    """Parse a rule file; RuleError says which rule and field is wrong."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        # PyYAML raises ValueError for a value its resolver took for a date or
        # number but cannot build (2001-02-30, !!float abc), and RecursionError
        # for nesting deeper than Python's stack.
        raise RuleError(f"rule file is not valid YAML: {error}") from None
    try:
        rules = _RuleFile.model_validate(document).rules
    except ValidationError as error:
        problems = problems_from(error)
        raise RuleError("; ".join(_where(text, p.field) + str(p) for p in problems)) from None
    seen: set[str] = set()
    for index, rule in enumerate(rules):
        if rule.name in seen:
            raise RuleError(
                f"{_where(text, f'rules[{index}]')}rule name {rule.name!r} is used twice"
            )
        seen.add(rule.name)
    return rules


def _where(text: str, path: str) -> str:
    """``line N: `` of the rule a problem's path names (``rules[3].op``), or nothing."""
    found = re.match(r"rules\[(\d+)\]", path)
    if not found:
        return ""
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
    except (yaml.YAMLError, RecursionError):
        return ""
    items = _rules_node(node)
    index = int(found.group(1))
    if items is None or index >= len(items):
        return ""
    return f"line {items[index].start_mark.line + 1}: "


def _rules_node(node: yaml.Node | None) -> list[yaml.Node] | None:
    if not isinstance(node, yaml.MappingNode):
        return None
    for name, value in node.value:
        if isinstance(name, yaml.ScalarNode) and name.value == "rules":
            return list(value.value) if isinstance(value, yaml.SequenceNode) else None
    return None


def read_value(data: Any, path: str) -> Reading:
    """The value at ``path`` in the data, as a number and label where it has them."""
    raw = _lookup(data, path)
    if isinstance(raw, bool) or raw is None:
        return Reading(raw, None, None)
    if isinstance(raw, int | float):
        return Reading(raw, _finite(float(raw)), None)
    if isinstance(raw, str):
        number = _number(raw)
        if number is not None:
            return Reading(raw, number, None)
        labelled = _LABELLED.fullmatch(raw)
        if labelled:
            return Reading(raw, _number(labelled.group(2)), labelled.group(1))
    return Reading(raw, None, None)


def group_of(rule: Rule, event: CloudEvent) -> dict[str, str]:
    """The event's group under ``rule``: each ``group_by`` path's value as a
    label (an absent value is empty, as Prometheus treats a missing label)."""
    data = event.data if isinstance(event.data, dict) else None
    return {
        name: _label_value(
            getattr(event, attribute)
            if attribute
            else (_lookup(data, path) if data is not None else None)
        )
        for name, attribute, path in rule._group_paths
    }


def rules_for(rules: Sequence[Rule], event_type: str) -> list[Rule]:
    """The rules whose type pattern takes ``event_type``, in their order."""
    return [rule for rule in rules if fnmatchcase(event_type, rule.type)]


def match(rule: Rule, event: CloudEvent) -> Match | None:
    """How ``rule`` counts ``event``, or None when the rule is not about it."""
    if not fnmatchcase(event.type, rule.type):
        return None
    return match_typed(rule, event)


def match_typed(rule: Rule, event: CloudEvent) -> Match | None:
    """:func:`match` for an event whose type ``rule`` is known to take
    (:func:`rules_for`): the pattern is not tried again."""
    reading = read_value(event.data, rule.field)
    labelled = rule.label is None or (reading.label or "").upper() == rule._label_upper
    holds: bool | None = None
    if rule.kind is Kind.THRESHOLD:
        holds = _holds(rule, reading, labelled)
    elif not labelled:
        # A window or absence rule with a label counts only labelled readings.
        return None
    elif rule.kind is Kind.WINDOW and rule.aggregate != "count" and reading.number is None:
        return None
    return Match(rule, event, group_of(rule, event), reading, holds)


def compare(rule: Rule, number: float) -> bool:
    """Whether ``number`` is past the rule's threshold (a rule without one: never)."""
    return rule.threshold is not None and _COMPARE[rule.op](number, rule.threshold)


def _holds(rule: Rule, reading: Reading, labelled: bool) -> bool | None:
    if reading.raw is None:
        return None  # nothing at the field: this event says nothing about it
    if not labelled:
        return False
    if rule.threshold is None:
        return True
    if reading.number is None:
        return None
    return compare(rule, reading.number)


def render(
    rule: Rule,
    event: CloudEvent,
    reading: Reading,
    count: int = 1,
    labels: Mapping[str, str] | None = None,
) -> str:
    """The rule's message for this event (``count``: the events behind it;
    ``labels``: its group's, each a field too)."""
    values = {
        **(labels or {}),
        "rule": rule.name,
        "severity": rule.severity,
        "type": event.type,
        "source": event.source,
        "id": event.id,
        "subject": event.subject or "",
        "time": event.time or "",
        "value": reading.raw if isinstance(reading.raw, str) else _plain(reading.raw),
        "number": _plain(reading.number),
        "label": reading.label or "",
        "op": rule.op,
        "threshold": _plain(rule.threshold),
        "count": str(count),
    }
    return _format(rule, values)


def render_window(rule: Rule, labels: Mapping[str, str], value: float, count: int) -> str:
    """The rule's message for a window's aggregate ``value`` over ``count``
    events: the group's labels stand in for the event's attributes."""
    values = {
        **labels,
        "rule": rule.name,
        "severity": rule.severity,
        "type": rule.type,
        "source": labels.get("source", ""),
        "id": "",
        "subject": labels.get("subject", ""),
        "time": "",
        "value": _plain(value),
        "number": _plain(value),
        "label": "",
        "op": rule.op,
        "threshold": _plain(rule.threshold),
        "count": str(count),
    }
    return _format(rule, values)


def _format(rule: Rule, values: Mapping[str, str]) -> str:
    try:
        return _storable(rule.message.format_map(values))
    except (ValueError, TypeError):
        # A format spec that does not fit this value (e.g. {value:.1f} on a
        # string): say everything plainly rather than lose the alert.
        return _storable(" ".join(f"{k}={v}" for k, v in values.items() if v != ""))


def _attribute(event: CloudEvent, path: str) -> Any:
    if path.startswith("data."):
        return (
            _lookup(event.data, path.removeprefix("data."))
            if isinstance(event.data, dict)
            else None
        )
    return getattr(event, path)


def _label_value(value: Any) -> str:
    if value is None or isinstance(value, dict | list):
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return _storable(_plain(value) if isinstance(value, float) else str(value))


def _storable(text: str) -> str:
    # Events from Kafka may carry a NUL in their data, which no PostgreSQL text
    # or jsonb value holds: it becomes U+FFFD in a label or a message.
    return text.replace("\x00", "\ufffd")


def _lookup(data: Any, path: str) -> Any:
    if not isinstance(data, dict):
        return data
    current: Any = data
    for part in path.split(".") if path else ():
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _number(text: str) -> float | None:
    try:
        return _finite(float(text))
    except ValueError:
        return None


def _finite(number: float) -> float | None:
    return number if math.isfinite(number) else None


def _plain(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)
