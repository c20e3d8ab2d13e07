"""Poison: records produced straight to the ``events`` topic that no function can take.

``/publish`` refuses anything malformed, so poison goes around it, as a
foreign producer's records would. Three kinds, each one the system really
refuses (a record with no ``ce_*`` header at all is *not* poison: the bridge
reads it as a foreign event, as Knative's KafkaSource does, and persist stores
it):

- malformed, ``no-attributes``: ``ce_specversion`` and nothing else, a garbage
  value. The bridge refuses it before any function sees it.
- malformed, ``not-json``: a complete binary-mode CloudEvent whose data says
  ``application/json`` but does not parse. Every function refuses it.
- rejected, ``nul-in-data``: a valid CloudEvent whose JSON data holds
  ``\\u0000``; jsonb cannot store it, so persist refuses it (PostgreSQL: "unsupported
  Unicode escape sequence") and alert takes it.

Each record names itself in ``faults-source``/``faults-id`` headers, which
dead letters keep, so even the one without ``ce_id`` is recognised there.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from confluent_kafka import KafkaError, Message, Producer

from tests.faults.events import EVENT_TYPE, Key
from tests.faults.generator import Progress
from tests.faults.history import FAIL, INFO, INVOKE, OK, History

MALFORMED, REJECTED = "malformed", "rejected"
SOURCE_HEADER, ID_HEADER = "faults-source", "faults-id"


@dataclass(frozen=True)
class Poison:
    """One poison record and when (at how many acknowledged good events) to produce it."""

    key: Key
    kind: str
    variant: str
    at: int

    def headers(self) -> list[tuple[str, str | bytes | None]]:
        source, id_ = self.key
        own: list[tuple[str, str | bytes | None]] = [
            (SOURCE_HEADER, source.encode()),
            (ID_HEADER, id_.encode()),
        ]
        if self.variant == "no-attributes":
            return [("ce_specversion", b"1.0"), *own]
        return [
            ("ce_specversion", b"1.0"),
            ("ce_id", id_.encode()),
            ("ce_source", source.encode()),
            ("ce_type", EVENT_TYPE.encode()),
            ("content-type", b"application/json"),
            *own,
        ]

    def value(self) -> bytes:
        if self.variant == "no-attributes":
            return b"\x00\xff poison: " + self.key[1].encode()
        if self.variant == "not-json":
            return b'{"seq": 1, "truncated'
        return b'{"text": "NUL \\u0000 here"}'


def plan_poison(
    good: int,
    source: str,
    tag: str,
    rng: random.Random,
    malformed_share: float = 0.01,
    rejected_share: float = 0.001,
) -> list[Poison]:
    """1% malformed and 0.1% rejected (at least one each), spread over the run."""
    malformed = max(1, round(good * malformed_share))
    rejected = max(1, round(good * rejected_share))
    kinds = [(MALFORMED, ("no-attributes", "not-json")[i % 2]) for i in range(malformed)]
    kinds += [(REJECTED, "nul-in-data")] * rejected
    rng.shuffle(kinds)
    total = len(kinds)
    return [
        Poison(
            key=(source, f"{tag}-poison-{i:04d}"),
            kind=kind,
            variant=variant,
            at=int(good * (i + rng.random()) / (total + 1)),
        )
        for i, (kind, variant) in enumerate(kinds)
    ]


class PoisonProducer:
    """A thread producing each poison record once the good events reached its point."""

    def __init__(
        self,
        bootstrap: str,
        topic: str,
        plan: Sequence[Poison],
        history: History,
        progress: Progress,
        deadline_s: float,
    ) -> None:
        self.topic = topic
        self.plan = sorted(plan, key=lambda p: p.at)
        self.history = history
        self.progress = progress
        self.error: str | None = None
        self.stop = threading.Event()
        self._deadline = time.monotonic() + deadline_s
        # log_level 0: a broker killed by the nemesis would fill stderr with
        # reconnection attempts; what matters is in the history
        self._producer = Producer(
            {
                "bootstrap.servers": bootstrap,
                "enable.idempotence": True,
                "acks": "all",
                "message.timeout.ms": 120_000,
                "log_level": 0,
            }
        )
        self._thread = threading.Thread(target=self._run, name="poison")

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        self._thread.join(max(0.0, self._deadline - time.monotonic()) + 15)

    def _run(self) -> None:
        for poison in self.plan:
            remaining = self._deadline - time.monotonic()
            if self.stop.is_set() or not self.progress.wait_for(poison.at, max(0.0, remaining)):
                self.error = f"stopped before producing {poison.key[1]}"
                return
            while not self._produce(poison):
                if self.stop.wait(0.5) or time.monotonic() > self._deadline:
                    self.error = f"could not produce {poison.key[1]}"
                    return

    def _produce(self, poison: Poison) -> bool:
        """Produce once and wait for the broker's answer. Only a definite failure
        (librdkafka gave up on the record) is produced again, so a record is never
        written twice by us."""
        source, id_ = poison.key
        fields = {"source": source, "ids": [id_], "kind": poison.kind, "variant": poison.variant}
        self.history.record("poison", INVOKE, "produce", **fields)
        pending = "no answer before the deadline"
        outcome: list[str | None] = [pending]

        def delivered(error: KafkaError | None, _message: Message) -> None:
            outcome[0] = None if error is None else str(error)

        self._producer.produce(
            self.topic,
            key=id_.encode(),
            value=poison.value(),
            headers=poison.headers(),
            on_delivery=delivered,
        )
        while outcome[0] == pending and time.monotonic() < self._deadline:
            self._producer.flush(1.0)
        if outcome[0] is None:
            self.history.record("poison", OK, "produce", **fields)
            return True
        kind = INFO if outcome[0] == pending else FAIL
        self.history.record("poison", kind, "produce", error=outcome[0], **fields)
        return False
