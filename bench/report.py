"""The results of a run: one :class:`Row` per measurement, as JSON and as the
Markdown table BENCHMARKS.md keeps. Pure: no I/O."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Target:
    """What the figure should reach (``text``, as the issue states it, e.g.
    "≥ 25% of L1") and whether this run reached it."""

    text: str
    met: bool


@dataclass(frozen=True)
class Row:
    """One measurement and the limit it is compared with.

    ``key`` numbers it as the issue does ("1", "2a", "3b", ...); ``ratio`` is
    figure / limit (or limit / figure for latencies, where lower is better:
    ``lower_is_better``). ``other_limits`` are further limits the same figure
    is compared with (row 3 against both L1 and L2). ``settings`` says how it
    was measured (sizes, concurrency, acks, batch size ...), so the table can
    be reproduced; ``detail`` holds further figures (p50/p99/max, MB/s ...).
    """

    key: str
    name: str
    figure: float
    unit: str
    limit_name: str
    limit: float
    lower_is_better: bool = False
    targets: tuple[Target, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)
    detail: Mapping[str, float] = field(default_factory=dict)
    other_limits: Mapping[str, float] = field(default_factory=dict)

    @property
    def ratio(self) -> float:
        return self.ratio_to(self.limit)

    def ratio_to(self, limit: float) -> float:
        """The figure against ``limit``, so that 1.0 means "as good as the limit"."""
        if self.lower_is_better:
            return limit / self.figure if self.figure else 0.0
        return self.figure / limit if limit else 0.0


def at_least(fraction: float, of: str, ratio: float) -> Target:
    """The target "≥ fraction of ``of``", met when ``ratio`` reaches it."""
    return Target(f"≥ {fraction:.0%} of {of}", ratio >= fraction)


def at_most(bound: float, unit: str, figure: float) -> Target:
    """The target "≤ bound unit" on the figure itself."""
    return Target(f"≤ {number(bound)} {unit}", figure <= bound)


@dataclass(frozen=True)
class Report:
    mode: str
    machine: Mapping[str, Any]
    rows: Sequence[Row]
    started: str
    seconds: float
    # What went wrong in a section that could not finish: its rows are missing.
    errors: Sequence[str] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "mode": self.mode,
            "machine": dict(self.machine),
            "started": self.started,
            "seconds": round(self.seconds, 1),
            "rows": [
                {
                    **asdict(row),
                    "ratio": row.ratio,
                    "other_ratios": {k: row.ratio_to(v) for k, v in row.other_limits.items()},
                }
                for row in self.rows
            ],
            "errors": list(self.errors),
        }

    def markdown(self) -> str:
        """The table: each figure beside its limit, the ratio and the targets."""
        lines = [
            "| # | measurement | figure | limit | ratio | target | detail |",
            "|---|---|---|---|---|---|---|",
        ]
        for row in self.rows:
            limits = [f"{row.limit_name}: {number(row.limit)} {row.unit}"]
            ratios = [f"{row.ratio:.2f}"]
            for name, value in row.other_limits.items():
                limits.append(f"{name}: {number(value)} {row.unit}")
                ratios.append(f"{row.ratio_to(value):.2f} ({name})")
            if row.other_limits:
                ratios[0] += f" ({row.limit_name})"
            targets = "; ".join(
                f"{t.text}: {'met' if t.met else '**missed**'}" for t in row.targets
            )
            detail = ", ".join(f"{k} {number(v)}" for k, v in row.detail.items())
            lines.append(
                f"| {row.key} | {row.name} | {number(row.figure)} {row.unit} "
                f"| {'<br>'.join(limits)} | {'<br>'.join(ratios)} "
                f"| {targets or '–'} | {detail or '–'} |"
            )
        return "\n".join(lines) + "\n"

    def settings_markdown(self) -> str:
        """How each row was measured, one line a row."""
        lines = []
        for row in self.rows:
            text = ", ".join(f"{k}={_setting(v)}" for k, v in row.settings.items())
            lines.append(f"- **{row.key}** {text}")
        return "\n".join(lines) + "\n"

    def document(self) -> str:
        """The whole Markdown result: machine, table, settings, missed targets."""
        machine = "\n".join(f"- {k}: {_setting(v)}" for k, v in self.machine.items())
        parts = [
            f"A {self.mode} run, started {self.started}, {self.seconds:.0f} s in all.\n",
            f"Machine:\n\n{machine}\n",
            self.markdown(),
            f"Settings:\n\n{self.settings_markdown()}",
        ]
        missed = [
            f"- {row.key} {row.name}: {t.text} missed ({number(row.figure)} {row.unit}, "
            f"{_ratio_for(row, t)})"
            for row in self.rows
            for t in row.targets
            if not t.met
        ]
        if missed:
            parts.append("Missed targets:\n\n" + "\n".join(missed) + "\n")
        if self.errors:
            parts.append("Errors (rows missing):\n\n" + "\n".join(f"- {e}" for e in self.errors))
        return "\n".join(parts)


def _ratio_for(row: Row, target: Target) -> str:
    """The ratio a target speaks of: to the limit its text names, else the row's own."""
    for name, value in row.other_limits.items():
        if target.text.endswith(f" of {name}"):
            return f"ratio {row.ratio_to(value):.2f} to {name}"
    return f"ratio {row.ratio:.2f} to {row.limit_name}"


def number(value: float) -> str:
    """A figure with as many digits as it deserves."""
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _setting(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"), default=str)
