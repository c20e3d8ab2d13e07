"""Producing to Kafka, answering only after the broker acknowledged."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from functools import partial
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventcore.kafka_binding import KafkaRecord
from eventio.errors import DeliveryError

_PENDING = "no acknowledgement before the deadline"
Callback = Callable[[KafkaError | None, Message], None]


class _Outcomes:
    """Each record's outcome by index: pending until its delivery report,
    then None (acknowledged) or why not."""

    def __init__(self, count: int) -> None:
        self.problems: list[str | None] = [_PENDING] * count

    @property
    def failed(self) -> bool:
        return any(problem is not None for problem in self.problems)

    def report(self, index: int, error: KafkaError | None, _message: Message) -> None:
        self.problems[index] = None if error is None else str(error)

    def fail_from(self, index: int, problem: str) -> None:
        """The records from ``index`` on were never handed to the client."""
        self.problems[index:] = [problem] * (len(self.problems) - index)


class EventProducer:
    """An idempotent, acks=all producer; one per process, reused across calls."""

    def __init__(
        self, bootstrap_servers: str, client_id: str, timeout_s: float, **config: Any
    ) -> None:
        self._timeout_s = timeout_s
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap_servers,
                "client.id": client_id,
                "enable.idempotence": True,
                "acks": "all",
                # send() flushes as soon as it has handed over its records, and
                # a flush sends at once whatever the linger: this only keeps the
                # client from sending a request's first records in small
                # batches while it still hands over the rest. Measured on
                # 1,000-record sends: from 1 ms to 20, Kafka's CPU per record
                # halves and one record alone is acknowledged as fast.
                "linger.ms": 20,
                # librdkafka gives up on a record before we stop waiting for it,
                # so a record we report as failed is never delivered later.
                "message.timeout.ms": int(timeout_s * 1000),
                **config,
            }
        )

    def send(self, topic: str, records: Sequence[KafkaRecord]) -> None:
        """Produce every record and wait for all acknowledgements; DeliveryError if any failed."""
        outcomes = _Outcomes(len(records))
        deadline = time.monotonic() + self._timeout_s + 1.0
        produce, report = self._producer.produce, outcomes.report
        for index, record in enumerate(records):
            # Each record's callback knows its index: a C partial costs less
            # than a closure, and librdkafka keeps no other per-record handle.
            callback = partial(report, index)
            try:
                produce(
                    topic,
                    record.value,
                    record.key,
                    # Read only: bytes values do where the stub says a list of
                    # str, bytes or None, and no copy is made to satisfy it.
                    headers=record.headers,  # type: ignore[arg-type]
                    on_delivery=callback,
                )
                continue
            except BufferError:
                problem = self._when_room(topic, record, callback, deadline)
            except KafkaException as error:
                problem = str(error)
            if problem is not None:
                outcomes.fail_from(index, problem)
                break
        if self._producer.flush(max(0.0, deadline - time.monotonic())) > 0:
            # Out of time: what is still queued here must not be sent after
            # the caller was told it failed.
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.flush(0.5)
        if outcomes.failed:
            raise DeliveryError(outcomes.problems)

    def close(self) -> None:
        self._producer.flush(self._timeout_s)

    def _when_room(
        self, topic: str, record: KafkaRecord, callback: Callback, deadline: float
    ) -> str | None:
        """The local queue is full: let deliveries drain and hand the record
        over again, within the deadline; the reason when it could not."""
        while time.monotonic() < deadline:
            self._producer.poll(0.05)
            try:
                self._producer.produce(
                    topic,
                    record.value,
                    record.key,
                    headers=record.headers,  # type: ignore[arg-type]
                    on_delivery=callback,
                )
                return None
            except BufferError:
                continue
            except KafkaException as error:
                return str(error)
        return "the local producer queue stayed full"
