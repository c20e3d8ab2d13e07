"""Alert rules: which events raise an alert, how severe, and what it says.

A rule file is YAML::

    rules:
      - name: temperature-high
        type: TEMP            # event type; shell-style patterns such as "TEMP*" or "*"
        field: value          # dot path into the event data (a scalar data is its own value)
        op: ">="
        threshold: 80
        severity: critical
        message: "temperature {number} at {source} is at or above {threshold}"

Values are numbers, numeric strings, or the original system's labelled form
``"ALERT:90"`` (label ``ALERT``, number 90); ``label: ALERT`` restricts a rule to
values so labelled, and a rule with a label and no threshold fires on the label
alone.
"""

from __future__ import annotations

import math
import re
import string
from collections.abc import Iterator
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    model_validator,
)

from eventcore.alerts import Alert, alert_id
from eventcore.cloudevent import CloudEvent, problems_from
from eventcore.errors import RuleError

Op = Literal[">", ">=", "<", "<=", "==", "!="]
_COMPARE = {
    ">": float.__gt__,
    ">=": float.__ge__,
    "<": float.__lt__,
    "<=": float.__le__,
    "==": float.__eq__,
    "!=": float.__ne__,
}
_LABELLED = re.compile(r"\s*([A-Za-z][A-Za-z0-9_-]*)\s*:\s*(\S+)\s*")
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
    }
)


class Rule(BaseModel):
    """One alert rule, as written in the rule file."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$")]
    type: Annotated[str, StringConstraints(min_length=1, max_length=256)] = "*"
    field: Annotated[str, StringConstraints(max_length=256)] = "value"
    label: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_-]*$")] | None = None
    op: Op = ">="
    threshold: float | None = Field(default=None, allow_inf_nan=False)
    severity: Annotated[str, StringConstraints(min_length=1, max_length=32)] = "warning"
    message: Annotated[str, StringConstraints(min_length=1, max_length=1024)] = (
        "{type} {value} {op} {threshold}"
    )

    @model_validator(mode="after")
    def _usable(self) -> Rule:
        if self.threshold is None and self.label is None:
            raise ValueError("needs a threshold, a label, or both")
        for name in _field_names(self.message):
            if name not in MESSAGE_FIELDS:
                raise ValueError(
                    f"message field {{{name}}} is unknown; use {', '.join(sorted(MESSAGE_FIELDS))}"
                )
        return self


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
        raise RuleError("; ".join(str(p) for p in problems_from(error))) from None
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise RuleError(f"rule name {rule.name!r} is used twice")
        seen.add(rule.name)
    return rules


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


def evaluate(rules: list[Rule], event: CloudEvent) -> list[Alert]:
    """The alerts the rules raise for one event."""
    alerts = []
    for rule in rules:
        if not fnmatchcase(event.type, rule.type):
            continue
        reading = read_value(event.data, rule.field)
        if rule.label is not None and (reading.label or "").upper() != rule.label.upper():
            continue
        if rule.threshold is not None and (
            reading.number is None or not _COMPARE[rule.op](reading.number, rule.threshold)
        ):
            continue
        alerts.append(
            Alert(
                id=alert_id(rule.name, event.source, event.id),
                rule=rule.name,
                severity=rule.severity,
                message=render(rule, event, reading),
                event_source=event.source,
                event_id=event.id,
                event_type=event.type,
                event_time=event.time,
                value=reading.number,
                threshold=rule.threshold,
                partition_key=str(event.extensions.get("partitionkey", event.id)),
            )
        )
    return alerts


def render(rule: Rule, event: CloudEvent, reading: Reading) -> str:
    """The rule's message for this event."""
    values = {
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
    }
    try:
        return rule.message.format_map(values)
    except (ValueError, TypeError):
        # A format spec that does not fit this value (e.g. {value:.1f} on a
        # string): say everything plainly rather than lose the alert.
        return " ".join(f"{k}={v}" for k, v in values.items() if v != "")


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
