"""Producing to Kafka, answering only after the broker acknowledged."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from confluent_kafka import KafkaError, KafkaException, Message, Producer

from eventcore.kafka_binding import KafkaRecord
from eventio.errors import DeliveryError

_PENDING = "no acknowledgement before the deadline"


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
                "linger.ms": 1,
                # librdkafka gives up on a record before we stop waiting for it,
                # so a record we report as failed is never delivered later.
                "message.timeout.ms": int(timeout_s * 1000),
                **config,
            }
        )

    def send(self, topic: str, records: Sequence[KafkaRecord]) -> None:
        """Produce every record and wait for all acknowledgements; DeliveryError if any failed."""
        outcomes: list[str | None] = [_PENDING] * len(records)
        deadline = time.monotonic() + self._timeout_s + 1.0

        def acknowledged(index: int) -> Any:
            def on_delivery(error: KafkaError | None, _message: Message) -> None:
                outcomes[index] = None if error is None else str(error)

            return on_delivery

        for index, record in enumerate(records):
            problem = self._produce(topic, record, acknowledged(index), deadline)
            if problem is not None:
                outcomes[index:] = [problem] * (len(records) - index)
                break
        if self._producer.flush(max(0.0, deadline - time.monotonic())) > 0:
            # Out of time: what is still queued here must not be sent after
            # the caller was told it failed.
            self._producer.purge(in_queue=True, in_flight=False)
            self._producer.flush(0.5)
        if any(outcome is not None for outcome in outcomes):
            raise DeliveryError(outcomes)

    def close(self) -> None:
        self._producer.flush(self._timeout_s)

    def _produce(
        self, topic: str, record: KafkaRecord, callback: Any, deadline: float
    ) -> str | None:
        """Hand one record to the client; the reason when it could not."""
        headers: list[tuple[str, str | bytes | None]] = list(record.headers)
        while True:
            try:
                self._producer.produce(
                    topic,
                    key=record.key,
                    value=record.value,
                    headers=headers,
                    on_delivery=callback,
                )
                return None
            except BufferError:
                # The local queue is full: let deliveries drain, within the deadline.
                if time.monotonic() >= deadline:
                    return "the local producer queue stayed full"
                self._producer.poll(0.05)
            except KafkaException as error:
                return str(error)
