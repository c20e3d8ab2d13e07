"""Which dead letters to redrive, and the record a redrive produces. No I/O.

A dead letter is the original record plus ``eventfn.error.*`` headers (see
bridge/deadletter.py). Its replay is the original record again, without
those headers and with ``eventfn.redrive.count``: the bridge keeps that header
when the record fails again, so a record is redriven at most ``max_redrives``
times and one that keeps failing cannot loop between the two topics.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from bridge.deadletter import PREFIX as ERROR_PREFIX
from eventcore.cloudevent import format_time
from eventcore.kafka_binding import KafkaRecord

REDRIVE_PREFIX = "eventfn.redrive."
COUNT = REDRIVE_PREFIX + "count"
TIME = REDRIVE_PREFIX + "time"
_DIGITS = re.compile(r"[0-9]{1,9}")


class Decision(enum.Enum):
    """What becomes of one dead letter."""

    REPLAY = "replay"
    LOOP_GUARD = "skipped (loop guard)"
    DUPLICATE = "skipped (duplicate)"
    FILTERED = "filtered out"


@dataclass(frozen=True)
class DeadLetter:
    """One record read from the dead-letter topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]
    timestamp_ms: int | None = None

    @property
    def coordinates(self) -> str:
        return f"{self.topic}[{self.partition}]@{self.offset}"

    def header(self, name: str) -> str:
        """The text of the last header called ``name`` (any case); "" when absent."""
        wanted = name.lower()
        found = [value for key, value in self.headers if key.lower() == wanted]
        return found[-1].decode(errors="replace") if found else ""

    def error(self, name: str) -> str:
        """One of the ``eventfn.error.*`` headers the bridge wrote."""
        return self.header(ERROR_PREFIX + name)

    @property
    def origin(self) -> str:
        """Where the bridge read the original record, as ``topic[partition]@offset``."""
        topic = self.error("topic")
        return f"{topic}[{self.error('partition')}]@{self.error('offset')}" if topic else ""

    @property
    def identity(self) -> tuple[str, str]:
        """What makes two dead letters one: the event's (source, id) when it is a
        CloudEvent, else the original record's coordinates. A bridge that
        crashed after producing a dead letter and before committing produces
        it again; both copies have the same identity."""
        source, event_id = self.header("ce_source"), self.header("ce_id")
        if source and event_id:
            return source, event_id
        return "", self.origin or self.coordinates

    @property
    def redrives(self) -> int | None:
        """How often this record was redriven before; None when the header is unreadable."""
        text = self.header(COUNT).strip()
        if not text:
            return 0
        return int(text) if _DIGITS.fullmatch(text) else None


@dataclass(frozen=True)
class Filters:
    """What the operator asked for; every filter given must match."""

    error: re.Pattern[str] | None = None
    function: str | None = None
    since: datetime | None = None
    until: datetime | None = None
    max_redrives: int = 1


@dataclass(frozen=True)
class Verdict:
    decision: Decision
    why: str = ""


def decide(letter: DeadLetter, filters: Filters) -> Verdict:
    """Replay, filtered out, or held back by the loop guard, and why."""
    function = letter.error("function")
    if filters.function is not None and function != filters.function:
        return Verdict(Decision.FILTERED, f"function is {function or 'not recorded'}")
    if filters.error is not None and not (
        filters.error.search(letter.error("reason")) or filters.error.search(letter.error("status"))
    ):
        return Verdict(Decision.FILTERED, "error does not match")
    if filters.since is not None or filters.until is not None:
        moment = failed_at(letter)
        if moment is None:
            return Verdict(Decision.FILTERED, "no failure time recorded")
        if filters.since is not None and moment < filters.since:
            return Verdict(Decision.FILTERED, f"failed at {format_time(moment)}, before --since")
        if filters.until is not None and moment >= filters.until:
            return Verdict(
                Decision.FILTERED, f"failed at {format_time(moment)}, not before --until"
            )
    count = letter.redrives
    if count is None:
        # Not a count this command wrote: replaying could start the loop it guards against.
        return Verdict(Decision.LOOP_GUARD, f"unreadable {COUNT}: {letter.header(COUNT)!r}")
    if count >= filters.max_redrives:
        return Verdict(
            Decision.LOOP_GUARD,
            f"redriven {count} time(s) already, --max-redrives is {filters.max_redrives}",
        )
    return Verdict(Decision.REPLAY)


def failed_at(letter: DeadLetter) -> datetime | None:
    """When the record last failed: the bridge's header, else when it was dead-lettered."""
    try:
        return parse_moment(letter.error("last.failure"))
    except ValueError:
        pass
    if letter.timestamp_ms is not None and letter.timestamp_ms > 0:
        return datetime.fromtimestamp(letter.timestamp_ms / 1000, UTC)
    return None


def replay(letter: DeadLetter, now: datetime) -> KafkaRecord:
    """The original record again: same key, value and headers, minus the error
    headers, plus how often it has now been redriven and when last."""
    kept = [
        (name, value)
        for name, value in letter.headers
        if not name.lower().startswith((ERROR_PREFIX, REDRIVE_PREFIX))
    ]
    count = (letter.redrives or 0) + 1
    guard = [(COUNT, str(count).encode()), (TIME, format_time(now).encode())]
    return KafkaRecord(key=letter.key, value=letter.value, headers=kept + guard)


def parse_moment(text: str) -> datetime:
    """An ISO-8601 date or time; one without a zone is UTC. ValueError otherwise."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO-8601 time, e.g. 2025-01-31T12:00:00Z or 2025-01-31"
        ) from None
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
