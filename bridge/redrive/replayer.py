"""Reading the dead-letter topic up to where it ended at the start, replaying what
was selected, and committing the group's offsets only after Kafka acknowledged."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

from confluent_kafka import Consumer, KafkaError, KafkaException, Message, TopicPartition

from bridge.redrive.errors import RedriveError
from bridge.redrive.selection import DeadLetter, Decision, Filters, Verdict, decide, replay
from bridge.redrive.settings import RedriveSettings
from eventcore.kafka_binding import KafkaRecord
from eventio.errors import DeliveryError
from eventio.producer import EventProducer

T = TypeVar("T")
Report = Callable[[DeadLetter, Verdict], None]

# Records produced (and acknowledged) before the group's offsets move on.
_BATCH = 500
# How soon a call Kafka answered with a retriable error is made again.
_RETRY_S = 0.2
# What a broker answers while it starts or moves a group or partition leader;
# librdkafka does not mark these retriable on the calls used here.
_PASSING = frozenset(
    {
        KafkaError.NOT_COORDINATOR,
        KafkaError.COORDINATOR_LOAD_IN_PROGRESS,
        KafkaError.COORDINATOR_NOT_AVAILABLE,
        KafkaError._WAIT_COORD,
        KafkaError.LEADER_NOT_AVAILABLE,
        KafkaError.NOT_LEADER_FOR_PARTITION,
    }
)
# librdkafka's own log lines would repeat, less clearly, what the errors say.
_KAFKA_LOG = logging.getLogger("eventfn.redrive.kafka")
_KAFKA_LOG.addHandler(logging.NullHandler())
_KAFKA_LOG.propagate = False


@dataclass(frozen=True)
class Options:
    """What the operator asked for on the command line."""

    filters: Filters = field(default_factory=Filters)
    dry_run: bool = False
    limit: int | None = None
    from_beginning: bool = False


@dataclass
class Tally:
    """How many dead letters came to each end; ``replayed`` only once acknowledged."""

    read: int = 0
    selected: int = 0
    replayed: int = 0
    loop_guarded: int = 0
    duplicates: int = 0
    filtered: int = 0

    def add(self, decision: Decision) -> None:
        self.read += 1
        if decision is Decision.REPLAY:
            self.selected += 1
        elif decision is Decision.LOOP_GUARD:
            self.loop_guarded += 1
        elif decision is Decision.DUPLICATE:
            self.duplicates += 1
        else:
            self.filtered += 1


class Replayer:
    """One run of the redrive: ``run`` once, then ``tally`` says what happened,
    also after a RedriveError."""

    def __init__(self, settings: RedriveSettings, options: Options, report: Report) -> None:
        self.settings = settings
        self.options = options
        self.tally = Tally()
        self._report = report
        self._last_error = ""
        # partition -> the offset after the last record examined, and the
        # group's committed offset (never moved back, even --from-beginning)
        self._next: dict[int, int] = {}
        self._floor: dict[int, int] = {}
        self._pending: list[tuple[DeadLetter, KafkaRecord]] = []
        # identity -> where its first dead letter of this run was: each event is
        # selected, replayed and counted once however often it was dead-lettered
        self._seen: dict[tuple[str, str], str] = {}
        kafka = {
            "bootstrap.servers": settings.bootstrap_servers,
            "error_cb": self._remember,
            "logger": _KAFKA_LOG,
        }
        try:
            self._consumer = Consumer(
                {
                    **kafka,
                    "group.id": settings.group,
                    "client.id": "eventfn-redrive",
                    "enable.auto.commit": False,
                    "enable.auto.offset.store": False,
                    "auto.offset.reset": "earliest",
                }
            )
            self._producer = (
                None
                if options.dry_run
                else EventProducer(
                    settings.bootstrap_servers, "eventfn-redrive", settings.timeout_s, **kafka
                )
            )
        except KafkaException as error:
            raise RedriveError(f"cannot create a Kafka client: {error}") from None

    def run(self) -> Tally:
        try:
            ends = self._assign()
            self._read(ends)
            self._flush()
        except KafkaException as error:  # a fatal client error, outside the calls above
            where = self.settings.bootstrap_servers
            raise RedriveError(f"Kafka at {where}: {_reason(error)}{self._cause()}") from None
        finally:
            self._close()
        return self.tally

    def _assign(self) -> dict[int, int]:
        """Start where the group stopped (or at the beginning); end where the topic ends now."""
        topic = self.settings.dead_letter_topic
        partitions = self._partitions(topic)
        self._partitions(
            self.settings.events_topic
        )  # a clear error now rather than after a timeout
        ends: dict[int, int] = {}
        starts: list[TopicPartition] = []
        committed = self._kafka(
            f"reading the offsets of group {self.settings.group}",
            self._committed,
            [TopicPartition(topic, p) for p in partitions],
        )
        for position in committed:
            partition = position.partition
            low, high = self._kafka(
                f"reading the end offsets of {topic}[{partition}]",
                self._consumer.get_watermark_offsets,
                TopicPartition(topic, partition),
            )
            # OFFSET_INVALID (negative) when the group never committed here.
            resume = max(position.offset, low)
            start = low if self.options.from_beginning else resume
            ends[partition] = high
            self._next[partition] = start
            self._floor[partition] = max(resume, start)
            if start < high:
                starts.append(TopicPartition(topic, partition, start))
        if starts:
            self._consumer.assign(starts)
        return ends

    def _partitions(self, topic: str) -> list[int]:
        metadata = self._kafka(f"looking up the topic {topic}", self._consumer.list_topics, topic)
        described = metadata.topics.get(topic)
        if described is None or described.error is not None or not described.partitions:
            why = described.error.str() if described and described.error else "no partitions"
            raise RedriveError(f"topic {topic} at {self.settings.bootstrap_servers}: {why}")
        return sorted(described.partitions)

    def _read(self, ends: dict[int, int]) -> None:
        topic = self.settings.dead_letter_topic
        open_partitions = {p for p, end in ends.items() if self._next[p] < end}
        heard = time.monotonic()
        while open_partitions:
            messages: list[Message] = self._consumer.consume(_BATCH, 0.5)
            if not messages:
                open_partitions -= self._finished_silently(open_partitions, ends)
                if open_partitions and time.monotonic() - heard > self.settings.timeout_s:
                    waiting = ", ".join(f"{topic}[{p}]@{self._next[p]}" for p in open_partitions)
                    raise RedriveError(
                        f"no records from {waiting} within {self.settings.timeout_s:g}s, "
                        f"though the topic had more when the redrive started{self._cause()}"
                    )
                continue
            heard = time.monotonic()
            for message in messages:
                if (error := message.error()) is not None:
                    where = f"{topic}[{message.partition()}]"
                    raise RedriveError(f"reading {where}: {error.str()}")
                partition, offset = message.partition() or 0, message.offset() or 0
                if partition not in open_partitions or offset >= ends[partition]:
                    continue  # written after the start: the next run's
                self._examine(_letter(message))
                self._next[partition] = offset + 1
                if offset + 1 >= ends[partition]:
                    open_partitions.discard(partition)
                if len(self._pending) >= _BATCH:
                    self._flush()
                if self.options.limit is not None and self.tally.selected >= self.options.limit:
                    return

    def _finished_silently(self, partitions: set[int], ends: dict[int, int]) -> set[int]:
        """Partitions whose position reached the end without a record to show for it
        (offsets taken by transaction markers or removed by compaction)."""
        topic = self.settings.dead_letter_topic
        positions = self._consumer.position([TopicPartition(topic, p) for p in partitions])
        return {tp.partition for tp in positions if tp.offset >= ends[tp.partition]}

    def _examine(self, letter: DeadLetter) -> None:
        verdict = decide(letter, self.options.filters)
        if verdict.decision is Decision.REPLAY:
            first = self._seen.setdefault(letter.identity, letter.coordinates)
            if first != letter.coordinates:
                verdict = Verdict(Decision.DUPLICATE, f"the same event as {first}")
        self.tally.add(verdict.decision)
        self._report(letter, verdict)
        if verdict.decision is Decision.REPLAY and self._producer is not None:
            self._pending.append((letter, replay(letter, datetime.now(UTC))))

    def _flush(self) -> None:
        """Produce what is pending, wait for every acknowledgement, then commit."""
        if self._producer is None:
            return  # a dry run produces and commits nothing
        pending, self._pending = self._pending, []
        if pending:
            try:
                self._producer.send(self.settings.events_topic, [record for _, record in pending])
            except DeliveryError as error:
                refused = [
                    letter
                    for (letter, _), outcome in zip(pending, error.outcomes, strict=True)
                    if outcome is not None
                ]
                self.tally.replayed += len(pending) - len(refused)
                # Commit up to, never past, the first record Kafka did not take.
                for letter in refused:
                    self._next[letter.partition] = min(self._next[letter.partition], letter.offset)
                self._commit()
                raise RedriveError(
                    f"{self.settings.events_topic} did not acknowledge "
                    f"{len(refused)} of {len(pending)} "
                    f"replays, the first from {refused[0].coordinates}: {error}; the group's "
                    "offsets stop before it, so a second run replays it"
                ) from None
            self.tally.replayed += len(pending)
        self._commit()

    def _commit(self) -> None:
        topic = self.settings.dead_letter_topic
        offsets = [
            TopicPartition(topic, partition, offset)
            for partition, offset in sorted(self._next.items())
            if offset > self._floor[partition]
        ]
        if not offsets:
            return
        self._kafka(
            f"committing {_shown(offsets)} for group {self.settings.group}",
            self._commit_now,
            offsets,
            after="; a second run reads those records again",
        )
        for tp in offsets:
            self._floor[tp.partition] = tp.offset

    def _close(self) -> None:
        if self._producer is not None:
            self._producer.close()
        self._consumer.close()

    def _committed(self, partitions: list[TopicPartition], timeout: float) -> list[TopicPartition]:
        return _checked(self._consumer.committed(partitions, timeout=timeout))

    def _commit_now(self, offsets: list[TopicPartition], timeout: float) -> None:
        # A synchronous commit has no timeout of its own; librdkafka bounds it.
        _checked(self._consumer.commit(offsets=offsets, asynchronous=False) or [])

    def _kafka(self, what: str, call: Callable[..., T], *args: Any, after: str = "") -> T:
        """A call bounded by the timeout, repeated while Kafka says a retry may help
        (a group coordinator still loading, say); then a RedriveError naming it."""
        deadline = time.monotonic() + self.settings.timeout_s
        while True:
            try:
                return call(*args, timeout=max(deadline - time.monotonic(), _RETRY_S))
            except KafkaException as error:
                cause = error.args[0] if error.args else None
                retriable = isinstance(cause, KafkaError) and (
                    cause.retriable() or cause.code() in _PASSING
                )
                if not retriable or time.monotonic() + _RETRY_S >= deadline:
                    raise RedriveError(
                        f"Kafka at {self.settings.bootstrap_servers}: {what} did not succeed "
                        f"within {self.settings.timeout_s:g}s: {_reason(error)}{self._cause()}"
                        + after
                    ) from None
            time.sleep(_RETRY_S)

    def _remember(self, error: KafkaError) -> None:
        self._last_error = error.str()

    def _cause(self) -> str:
        return f" (last client error: {self._last_error})" if self._last_error else ""


def _letter(message: Message) -> DeadLetter:
    headers: Any = message.headers() or []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return DeadLetter(
        topic=message.topic() or "",
        partition=message.partition() or 0,
        offset=message.offset() or 0,
        key=message.key(),
        value=message.value(),
        # as the bridge's dead_letter() does: a header without a value is empty
        headers=tuple((name, _bytes(value)) for name, value in pairs),
        timestamp_ms=message.timestamp()[1],
    )


def _bytes(value: str | bytes | None) -> bytes:
    if value is None:
        return b""
    return value if isinstance(value, bytes) else value.encode()


def _checked(partitions: list[TopicPartition]) -> list[TopicPartition]:
    """Per-partition errors raised as the call's own."""
    for tp in partitions:
        if tp.error is not None:
            raise KafkaException(tp.error)
    return partitions


def _reason(error: KafkaException) -> str:
    cause = error.args[0] if error.args else error
    return cause.str() if isinstance(cause, KafkaError) else str(cause)


def _shown(offsets: list[TopicPartition]) -> str:
    return ", ".join(f"{tp.topic}[{tp.partition}]@{tp.offset}" for tp in offsets)
