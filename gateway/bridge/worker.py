"""One consumer group feeding one function: poll a batch, POST it, settle every record, commit.

Records of a batch are finished (delivered or dead-lettered) before the next
poll, so order within a partition holds for the events that succeed. Offsets
are committed only up to the lowest unfinished record of each partition.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence

import httpx
from confluent_kafka import Consumer, KafkaException, Message, TopicPartition

from eventcore.batch import MEDIA_TYPE, BatchResult
from eventio.errors import DeliveryError
from eventio.producer import EventProducer
from gateway.bridge import delivery
from gateway.bridge.deadletter import dead_letter
from gateway.bridge.delivery import Outcome, Record
from gateway.bridge.metrics import BridgeMetrics
from gateway.bridge.settings import BridgeSettings

log = logging.getLogger("eventfn.bridge")


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
    ) -> None:
        self.function = function
        self.url = url
        self.settings = settings
        self.group = settings.group_prefix + function
        self.ready = threading.Event()
        self.failed = False
        self._dead_letters = dead_letters
        self._metrics = metrics
        self._stop = stop
        self._retry_after: float | None = None

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
        consumer = Consumer(
            {
                "bootstrap.servers": self.settings.bootstrap_servers,
                "group.id": self.group,
                "client.id": f"eventfn-bridge-{self.function}",
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.wait.max.ms": 100,
            }
        )
        consumer.subscribe([self.settings.topic], on_assign=self._assigned)
        headers = {"Content-Type": MEDIA_TYPE}
        try:
            with httpx.Client(timeout=self.settings.request_timeout_s, headers=headers) as http:
                while not self._stop.is_set():
                    messages = consumer.consume(
                        self.settings.max_batch, self.settings.batch_window_s
                    )
                    records = self._records(messages)
                    if records:
                        self._settle(consumer, http, records)
        finally:
            consumer.close()
            log.info("%s: consumer closed", self.group)

    def _assigned(self, _consumer: Consumer, partitions: list[TopicPartition]) -> None:
        log.info("%s: assigned %s", self.group, [p.partition for p in partitions])
        self.ready.set()

    def _records(self, messages: Sequence[Message]) -> list[Record]:
        records = []
        for message in messages:
            error = message.error()
            if error is not None:
                log.warning("%s: %s", self.group, error)
                continue
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

    def _settle(self, consumer: Consumer, http: httpx.Client, records: list[Record]) -> None:
        """Finish every record, then commit. Records stay unfinished only when
        the bridge is stopping, and then nothing further is consumed."""
        unfinished: list[Record] = []
        admissible = []
        refused = []
        for record in records:
            reason = delivery.inadmissible(record, self.settings.max_batch_bytes)
            if reason is None:
                admissible.append(record)
            else:
                record.failed(time.time(), None, reason, rejected=True)
                refused.append(record)
        unfinished += self._bury(refused)
        for chunk in delivery.split_by_size(admissible, self.settings.max_batch_bytes):
            # Stopping: what is not sent yet is handed back, uncommitted.
            unfinished += chunk if self._stop.is_set() else self._deliver(http, chunk)
        self._commit(consumer, delivery.committable(records, unfinished))

    def _deliver(self, http: httpx.Client, chunk: list[Record]) -> list[Record]:
        """Deliver until every record is finished; returns those left when stopping."""
        pending = chunk
        while pending:
            outcome = self._attempt(http, pending)
            self._metrics.records.labels(self.function, "delivered").inc(len(outcome.delivered))
            unburied = self._bury(outcome.dead)
            if unburied:
                return outcome.retry + unburied
            pending = outcome.retry
            if not pending:
                break
            attempt = max(record.attempts for record in pending)
            delay = delivery.backoff(
                attempt,
                self.settings.backoff_initial_s,
                self.settings.backoff_cap_s,
                self._retry_after,
            )
            log.warning(
                "%s: %d records to retry (attempt %d, first %s): %s; next try in %.2fs",
                self.group,
                len(pending),
                attempt,
                pending[0].coordinates,
                pending[0].last_reason,
                delay,
            )
            if self._stop.wait(delay):
                return pending
        return []

    def _attempt(self, http: httpx.Client, pending: list[Record]) -> Outcome:
        self._retry_after = None
        began = time.monotonic()
        try:
            response = http.post(self.url, content=delivery.batch_body(pending))
        except httpx.HTTPError as error:
            self._metrics.attempts.labels(self.function, "failed").inc()
            reason = f"{type(error).__name__}: {error}"
            return delivery.apply_batch_failure(pending, None, reason, time.time())
        finally:
            self._metrics.post_seconds.labels(self.function).observe(time.monotonic() - began)
        if response.status_code == 200:
            try:
                result = BatchResult.from_bytes(response.content)
            except ValueError as error:
                self._metrics.attempts.labels(self.function, "failed").inc()
                return delivery.apply_batch_failure(pending, 200, str(error), time.time())
            self._metrics.attempts.labels(
                self.function, "partial" if result.failures else "ok"
            ).inc()
            return delivery.apply_result(pending, result, time.time(), self.settings.max_attempts)
        self._metrics.attempts.labels(self.function, "failed").inc()
        self._retry_after = _seconds(response.headers.get("retry-after"))
        reason = f"HTTP {response.status_code}: {response.text[:300]}"
        return delivery.apply_batch_failure(pending, response.status_code, reason, time.time())

    def _bury(self, dead: list[Record]) -> list[Record]:
        """Dead-letter these records, retrying while the dead-letter topic refuses
        them; returns those still not taken when the bridge stops."""
        if not dead:
            return []
        letters = [dead_letter(record, self.function) for record in dead]
        refusals = 0
        while True:
            try:
                self._dead_letters.send(self.settings.dead_letter_topic, letters)
                break
            except DeliveryError as error:
                refusals += 1
                delay = delivery.backoff(
                    refusals, self.settings.backoff_initial_s, self.settings.backoff_cap_s
                )
                log.error(
                    "%s: the dead-letter topic did not take %d records (%s); again in %.2fs",
                    self.group,
                    len(dead),
                    error,
                    delay,
                )
                if self._stop.wait(delay):
                    return dead
        for record in dead:
            log.warning(
                "%s: dead-lettered %s (%s#%s) after %d attempts: %s",
                self.group,
                record.coordinates,
                *record.identity,
                record.attempts,
                record.last_reason,
            )
        self._metrics.records.labels(self.function, "dead_lettered").inc(len(dead))
        return []

    def _commit(self, consumer: Consumer, offsets: dict[int, int]) -> None:
        if not offsets:
            return
        partitions = [TopicPartition(self.settings.topic, p, o) for p, o in offsets.items()]
        try:
            consumer.commit(offsets=partitions, asynchronous=False)
        except KafkaException as error:
            # Lost the partitions to a rebalance: the new owner redelivers what
            # this commit would have covered, and every write is idempotent.
            log.warning("%s: commit of %s failed: %s", self.group, offsets, error)


def _header_list(
    headers: dict[str, str | bytes | None] | list[tuple[str, str | bytes | None]] | None,
) -> list[tuple[str, str | bytes | None]]:
    if headers is None:
        return []
    return list(headers.items()) if isinstance(headers, dict) else headers


def _seconds(header: str | None) -> float | None:
    try:
        return None if header is None else max(0.0, float(header))
    except ValueError:
        return None
