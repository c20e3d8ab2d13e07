"""One consumer group feeding one function: poll, POST batches, settle every record, commit.

Records reach the function in partition order. One that fails is retried
later, with backoff, while the others keep flowing; later records of its key
wait behind it (see inflight.py). A POST that fails as a whole is bisected to
find an event that fails alone, and never blames events for an outage (see
rounds.py). Offsets are committed only up to the lowest unfinished record of
each partition, so whatever a crash interrupts is delivered again, and the
functions' writes are idempotent.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Sequence

import httpx
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from bridge import delivery
from bridge.deadletter import dead_letter
from bridge.delivery import Record
from bridge.inflight import InFlight
from bridge.metrics import BridgeMetrics
from bridge.rounds import Round
from bridge.settings import BridgeSettings
from eventcore.batch import BatchResult
from eventcore.record_batch import Header
from eventio.errors import DeliveryError
from eventio.producer import EventProducer

log = logging.getLogger("eventfn.bridge")

# How often a worker that waits (a backoff, a full in-flight budget) still
# polls Kafka: it keeps its group membership and serves rebalances.
_POLL_S = 0.2


class Worker:
    """Runs in a thread of its own until ``stop`` is set."""

    def __init__(
        self,
        function: str,
        url: str,
        settings: BridgeSettings,
        dead_letters: EventProducer,
        metrics: BridgeMetrics,
        stop: threading.Event,
        index: int = 0,
    ) -> None:
        self.function = function
        self.index = index
        self.url = url
        self.settings = settings
        self.group = settings.group_prefix + function
        self.ready = threading.Event()
        self.failed = False
        # when the loop last came round (the bridge's /livez reads it)
        self.beat = time.monotonic()
        self._policy = settings.retry_policy
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._stop = stop
        self._inflight = InFlight()
        # free to send, but taken from Kafka while the worker was waiting
        self._backlog: list[Record] = []
        self._retry_after: float | None = None
        self._unwell = 0
        self._paused = False
        # The partitions assigned to this worker now, each with the number of
        # the assignment that gave it. A record fetched before its partition
        # was revoked or lost is no longer this worker's to send or commit,
        # even when the partition came back (it is fetched again from the
        # committed offset then).
        self._owned: dict[int, int] = {}
        self._assignments = 0
        self._next_commit = 0.0
        # this worker's part of the function's gauges, which its other consumers share
        self._gauged = {"in_flight": 0, "waiting": 0}

    def run(self) -> None:
        """The thread's body. Any error stops the whole bridge, so its supervisor
        restarts it, rather than leaving a live process that feeds nothing."""
        try:
            self._run()
        except Exception:
            log.exception("%s: stopped by an error", self.group)
            self.failed = True
            self._stop.set()

    def _run(self) -> None:
        config: dict[str, str | int | bool] = {
            "bootstrap.servers": self.settings.bootstrap_servers,
            "group.id": self.group,
            "client.id": f"eventfn-bridge-{self.function}-{self.index}",
            "enable.auto.commit": False,
            "auto.offset.reset": "earliest",
            "fetch.wait.max.ms": 100,
            "session.timeout.ms": self.settings.session_timeout_ms,
        }
        if member := self.settings.group_instance_id(self.function, self.index):
            config["group.instance.id"] = member
        consumer = Consumer(config)
        consumer.subscribe(
            [self.settings.events_topic],
            on_assign=self._assigned,
            on_revoke=self._revoked,
            on_lost=self._lost,
        )
        headers = {"Content-Type": self.settings.batch_type}
        if self.settings.api_key:
            headers["Authorization"] = f"Bearer {self.settings.api_key}"
        try:
            with httpx.Client(timeout=self.settings.request_timeout_s, headers=headers) as http:
                while not self._stop.is_set():
                    self.beat = time.monotonic()
                    self._flow(consumer)
                    fresh = self._records(self._fetch(consumer))
                    ready = self._inflight.due(time.monotonic()) + self._backlog
                    self._backlog = []
                    ready += self._inflight.admit(fresh)
                    if ready:
                        self._round(consumer, http, ready)
                    if time.monotonic() >= self._next_commit:
                        self._commit(consumer)
                    self._gauges()
        finally:
            # Stopping: what is done is committed; what is held is handed back
            # uncommitted, and the group's next owner gets it.
            self._commit(consumer)
            consumer.close()
            log.info("%s: consumer closed, %d records handed back", self.group, len(self._inflight))

    def _budget(self) -> int:
        room = self.settings.max_in_flight - len(self._inflight)
        return max(1, min(self.settings.max_batch, room))

    def _fetch(self, consumer: Consumer) -> list[Message]:
        """Records once there is one: it, those already fetched behind it and
        those that come within the batch window, up to the budget (a full
        batch leaves without waiting out the window)."""
        budget = self._budget()
        first = consumer.consume(1, self._idle_timeout())
        if not first or budget <= 1:
            return first
        owned = dict(self._owned)
        more = consumer.consume(budget - 1, self.settings.batch_window_s)
        # The second call may have served a rebalance: what the first call
        # handed out of a partition assigned anew since is stale.
        first = [
            m for m in first if self._owned.get(m.partition() or 0) == owned.get(m.partition() or 0)
        ]
        return first + more

    def _idle_timeout(self) -> float:
        """How long to wait for a first record: until a held record is due again."""
        if self._backlog:
            return 0.0
        timeout = _POLL_S
        due = self._inflight.next_due()
        if due is not None:
            timeout = min(timeout, max(0.0, due - time.monotonic()))
        return timeout

    def _flow(self, consumer: Consumer, waiting: bool = False) -> None:
        """Stop fetching while waiting, while the function is unwell, or while
        too much is held."""
        full = len(self._inflight) >= self.settings.max_in_flight
        pause = waiting or self._unwell > 0 or full
        if pause != self._paused:
            assignment = consumer.assignment()
            (consumer.pause if pause else consumer.resume)(assignment)
            self._paused = pause
            log.info("%s: %s fetching", self.group, "paused" if pause else "resumed")

    def _assigned(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("%s: assigned %s", self.group, [p.partition for p in partitions])
        self._assignments += 1
        self._owned.update((p.partition, self._assignments) for p in partitions)
        if self._paused:
            consumer.pause(partitions)
        self.ready.set()

    def _revoked(self, consumer: Consumer, partitions: list[TopicPartition]) -> None:
        self._commit(consumer)
        self._forget(partitions, "revoked")

    def _lost(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        # Lost, not revoked (the session expired): committing is no longer ours to do.
        self._forget(partitions, "lost")

    def _forget(self, partitions: list[TopicPartition], how: str) -> None:
        numbers = [p.partition for p in partitions]
        for number in numbers:
            self._owned.pop(number, None)
        dropped = self._inflight.drop(numbers)
        dropped_ids = {id(record) for record in dropped}
        self._backlog = [r for r in self._backlog if id(r) not in dropped_ids]
        log.info(
            "%s: %s %s; %d held records left to the next owner",
            self.group,
            how,
            numbers,
            len(dropped),
        )

    def _records(self, messages: Sequence[Message]) -> list[Record]:
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning("%s: %s", self.group, error)
                continue
            if message.partition() not in self._owned:
                continue  # taken away since it was fetched; its new owner has it
            records.append(
                Record(
                    topic=message.topic() or "",
                    partition=message.partition() or 0,
                    offset=message.offset() or 0,
                    key=message.key(),
                    value=message.value(),
                    headers=_header_list(message.headers()),
                    timestamp_ms=message.timestamp()[1],
                )
            )
        return records

    def _round(self, consumer: Consumer, http: httpx.Client, ready: list[Record]) -> None:
        """Send what is ready; every record ends delivered, dead-lettered or due again."""
        now = time.time()
        admissible = []
        for record in ready:
            reason = delivery.inadmissible(
                record, self.settings.max_batch_bytes, self.settings.batch_type
            )
            if reason is None:
                admissible.append(record)
            else:
                record.failed(now, None, reason, rejected=True)
                self._bury([record], consumer)
        chunks = delivery.split_by_size(
            admissible, self.settings.max_batch_bytes, self.settings.batch_type
        )
        round_ = Round(chunks, self._unwell)
        while (chunk := round_.next()) is not None:
            if chunk and not (chunk := self._sendable(chunk, consumer)):
                continue
            if round_.unwell:
                delay = self._policy.delay(round_.unwell, self._retry_after)
                log.warning(
                    "%s: %s unwell (%s); next try of %d records from %s in %.2fs",
                    self.group,
                    self.function,
                    (round_.suspect or chunk[0]).last_reason,
                    len(chunk),
                    chunk[0].coordinates if chunk else "(an empty batch)",
                    delay,
                )
                if not self._wait(consumer, delay):
                    break
            if self._stop.is_set():
                break  # what is left is handed back, uncommitted
            result, status, reason = self._attempt(http, chunk)
            now = time.time()
            if result is None:
                for record in chunk:
                    record.failed(now, status, reason, rejected=False)
                round_.failed(chunk, delivery.blames_no_event(status))
                if round_.suspect is not None:
                    # Later events of its key wait for the verdict (and its retries).
                    self._inflight.retry_at(round_.suspect, math.inf)
                continue
            blamed = round_.succeeded()
            outcome = delivery.apply_result(chunk, result, now, self._policy)
            self._inflight.finish(outcome.delivered, time.monotonic())
            self._metrics.records.labels(self.function, "delivered").inc(len(outcome.delivered))
            self._bury(outcome.dead, consumer)
            self._retry(outcome.retry)
            self._blame(blamed, consumer)
        self._unwell = round_.unwell

    def _sendable(self, chunk: list[Record], consumer: Consumer) -> list[Record]:
        """Of a chunk about to be sent: those still held, not behind a failed
        record of their key, and not too old to try again (dead-lettered)."""
        chunk = self._inflight.hold_back(r for r in chunk if self._inflight.holds(r))
        now = time.time()
        expired = [r for r in chunk if r.attempts and self._policy.expired(r, now)]
        if expired:
            self._judge(expired, consumer)
        return [r for r in chunk if r not in expired]

    def _blame(self, records: list[Record], consumer: Consumer) -> None:
        for record in records:
            record.blame()
            log.warning(
                "%s: %s (%s#%s) fails alone while the function works: %s",
                self.group,
                record.coordinates,
                *record.identity,
                record.last_reason,
            )
        self._judge(records, consumer)

    def _judge(self, records: list[Record], consumer: Consumer) -> None:
        """Failed records: dead letters, or retried later."""
        now = time.time()
        dead = [record for record in records if self._policy.is_dead(record, now)]
        self._bury(dead, consumer)
        self._retry([record for record in records if record not in dead])

    def _retry(self, records: list[Record]) -> None:
        for record in records:
            delay = self._policy.delay(max(record.rejections, 1))
            self._inflight.retry_at(record, time.monotonic() + delay)
            log.info(
                "%s: %s (%s#%s) retried in %.2fs (attempt %d): %s",
                self.group,
                record.coordinates,
                *record.identity,
                delay,
                record.attempts,
                record.last_reason,
            )
        self._metrics.records.labels(self.function, "retried").inc(len(records))

    def _wait(self, consumer: Consumer, seconds: float) -> bool:
        """Wait, still polling (fetching paused) so the group keeps this member;
        False when the bridge is stopping."""
        self._flow(consumer, waiting=True)
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            if self._stop.is_set():
                return False
            message = consumer.poll(min(_POLL_S, left))
            if message is not None:  # fetched before the pause took effect
                self._backlog += self._inflight.admit(self._records([message]))
        return not self._stop.is_set()

    def _attempt(
        self, http: httpx.Client, records: list[Record]
    ) -> tuple[BatchResult | None, int | None, str]:
        """POST one batch: the function's result, or the status and reason it failed."""
        self._retry_after = None
        began = time.monotonic()
        try:
            body = delivery.batch_body(records, self.settings.batch_type)
            response = http.post(self.url, content=body)
        except httpx.HTTPError as error:
            self._metrics.attempts.labels(self.function, "failed").inc()
            return None, None, f"{type(error).__name__}: {error}"
        finally:
            self._metrics.post_seconds.labels(self.function).observe(time.monotonic() - began)
        if response.status_code == 200:
            try:
                result = BatchResult.from_bytes(response.content)
            except ValueError as error:
                self._metrics.attempts.labels(self.function, "failed").inc()
                return None, 200, f"unreadable answer: {error}"
            outcome = "partial" if result.failures else "ok"
            self._metrics.attempts.labels(self.function, outcome).inc()
            for name, count in result.counts.items():
                if count > 0:
                    self._metrics.counts.labels(self.function, name).inc(count)
            return result, 200, ""
        self._metrics.attempts.labels(self.function, "failed").inc()
        self._retry_after = _seconds(response.headers.get("retry-after"))
        return None, response.status_code, f"HTTP {response.status_code}: {response.text[:300]}"

    def _bury(self, dead: list[Record], consumer: Consumer) -> None:
        """Dead-letter these records, retrying while the dead-letter topic refuses
        them; those not taken when the bridge stops stay held (handed back)."""
        dead = [record for record in dead if self._inflight.holds(record)]
        if not dead:
            return
        letters = [dead_letter(record, self.function) for record in dead]
        refusals = 0
        while True:
            try:
                self._dead_letters.send(self.settings.dead_letter_topic, letters)
                break
            except DeliveryError as error:
                refusals += 1
                delay = self._policy.delay(refusals)
                log.error(
                    "%s: the dead-letter topic did not take %d records (%s); again in %.2fs",
                    self.group,
                    len(dead),
                    error,
                    delay,
                )
                if not self._wait(consumer, delay):
                    return
        for record in dead:
            log.warning(
                "%s: dead-lettered %s (%s#%s) after %d attempts: %s",
                self.group,
                record.coordinates,
                *record.identity,
                record.attempts,
                record.last_reason,
            )
        self._inflight.finish(dead, time.monotonic())
        self._metrics.records.labels(self.function, "dead_lettered").inc(len(dead))

    def _commit(self, consumer: Consumer) -> None:
        self._next_commit = time.monotonic() + self.settings.commit_interval_s
        offsets = self._inflight.commits()
        if not offsets:
            return
        partitions = [TopicPartition(self.settings.events_topic, p, o) for p, o in offsets.items()]
        try:
            consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as error:
            # Not this member's to commit any more (a rebalance, a lost session):
            # the new owner redelivers from the last commit; writes are idempotent.
            log.warning("%s: commit of %s failed: %s", self.group, offsets, error)
            return
        self._inflight.committed(offsets)

    def _gauges(self) -> None:
        for state, now in (("in_flight", len(self._inflight)), ("waiting", self._inflight.waiting)):
            self._metrics.held.labels(self.function, state).inc(now - self._gauged[state])
            self._gauged[state] = now


def _header_list(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[Header]:
    """A consumed record's headers. confluent-kafka gives them as a list of
    (name, bytes or None); its stubs also allow str values, which are encoded."""
    if headers is None:
        return []
    pairs = headers.items() if isinstance(headers, dict) else headers
    return [(name, value.encode() if isinstance(value, str) else value) for name, value in pairs]


def _seconds(header: str | None) -> float | None:
    try:
        return None if header is None else max(0.0, float(header))
    except ValueError:
        return None
