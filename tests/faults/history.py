"""The run's history, Jepsen-style: every operation as an invoke and its completion.

One JSON object per line in ``<run dir>/history.jsonl``. A completion's
``type`` is ``ok`` (the system said yes), ``fail`` (it certainly did not take
it) or ``info`` (unknown: a timeout, a broken connection, a 5xx after which
some events may be in Kafka). The nemesis writes its kills and recoveries here
too, so one file tells the whole story. Writing is I/O; :func:`outcomes` is
pure and is what the checker reads.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from tests.faults.events import Key

OK, FAIL, INFO, INVOKE = "ok", "fail", "info", "invoke"


class History:
    """Appends operations to ``history.jsonl``; safe to share between threads."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._file = path.open("ab")

    def record(self, process: str, type_: str, f: str, **fields: Any) -> dict[str, Any]:
        """Write one operation (stamped with the wall-clock time) and return it."""
        entry = {"t": time.time(), "process": process, "type": type_, "f": f, **fields}
        line = orjson.dumps(entry) + b"\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()
        return entry

    def close(self) -> None:
        with self._lock:
            self._file.close()


def load(path: Path) -> list[dict[str, Any]]:
    """Every entry of a history file, in order."""
    with path.open("rb") as handle:
        return [orjson.loads(line) for line in handle if line.strip()]


def keys_of(entry: Mapping[str, Any]) -> list[Key]:
    source = entry["source"]
    return [(source, id_) for id_ in entry.get("ids", ())]


@dataclass(frozen=True)
class Outcomes:
    """What the history says about the events: sent, acknowledged, unknown."""

    sent: frozenset[Key]
    acked: frozenset[Key]
    # had an ``info`` completion and never an ``ok``: may have landed or not
    indeterminate: frozenset[Key]
    # first acknowledgement's wall-clock time, per event
    acked_at: Mapping[Key, float] = field(default_factory=dict)
    requests: int = 0
    attempts: int = 0
    completions: Mapping[str, int] = field(default_factory=dict)
    statuses: Mapping[str, int] = field(default_factory=dict)


def outcomes(entries: Iterable[Mapping[str, Any]], f: str | Sequence[str]) -> Outcomes:
    """Fold the history's operations named ``f`` into sets of event keys."""
    names = {f} if isinstance(f, str) else set(f)
    sent: set[Key] = set()
    acked_at: dict[Key, float] = {}
    unknown: set[Key] = set()
    requests: set[tuple[str, Any]] = set()
    attempts = 0
    completions: dict[str, int] = {}
    statuses: dict[str, int] = {}
    for entry in entries:
        if entry["f"] not in names:
            continue
        keys = keys_of(entry)
        kind = entry["type"]
        if kind == INVOKE:
            attempts += 1
            requests.add((entry["process"], entry.get("request")))
            sent.update(keys)
            continue
        completions[kind] = completions.get(kind, 0) + 1
        status = str(entry.get("status", entry.get("error", "?")))
        statuses[status] = statuses.get(status, 0) + 1
        if kind == OK:
            for key in keys:
                acked_at.setdefault(key, entry["t"])
        elif kind == INFO:
            unknown.update(keys)
    acked = frozenset(acked_at)
    return Outcomes(
        sent=frozenset(sent),
        acked=acked,
        indeterminate=frozenset(unknown - acked),
        acked_at=acked_at,
        requests=len(requests),
        attempts=attempts,
        completions=completions,
        statuses=statuses,
    )


def nemesis_entries(entries: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The nemesis's own operations (kills, recoveries, pauses), in order."""
    return (entry for entry in entries if entry["process"] == "nemesis")
