"""Dead letters: the original record, plus headers saying where it came from and why it failed."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.delivery import Record
from eventcore.cloudevent import format_time
from eventcore.kafka_binding import KafkaRecord

PREFIX = "eventfn.error."
_MAX_REASON = 2000


def dead_letter(record: Record, function: str) -> KafkaRecord:
    """The record to produce to the dead-letter topic: same key, value and headers."""
    original = [
        (name, value if isinstance(value, bytes) else (value or "").encode())
        for name, value in record.headers
        if not name.startswith(PREFIX)
    ]
    context = {
        "topic": record.topic,
        "partition": str(record.partition),
        "offset": str(record.offset),
        "attempts": str(record.attempts),
        "first.failure": _iso(record.first_failure),
        "last.failure": _iso(record.last_failure),
        "function": function,
        "status": "" if record.last_status is None else str(record.last_status),
        "reason": record.last_reason[:_MAX_REASON],
    }
    extra = [(PREFIX + name, text.encode()) for name, text in context.items()]
    return KafkaRecord(key=record.key, value=record.value, headers=original + extra)


def _iso(moment: float | None) -> str:
    return "" if moment is None else format_time(datetime.fromtimestamp(moment, UTC))
