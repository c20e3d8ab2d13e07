"""Kafka records in one HTTP body: how the bridge hands a function its batch.

The bridge forwards each record as Kafka gave it (coordinates, timestamp,
key, value and headers, the bytes untouched) in MessagePack, and the function
reads each one with the Kafka binding (:func:`eventcore.kafka_binding.from_record`),
as it would read the record from Kafka itself. So an event is decoded once
on its way from Kafka to PostgreSQL, by the function that needs it, and
never re-encoded in between. Structured JSON batches
(``application/cloudevents-batch+json``) stay accepted from other senders.

Each entry is an array: ``[topic, partition, offset, timestamp_ms|nil,
key|nil, value|nil, [[header name, header value|nil], ...]]``, keys, values
and header values as MessagePack binary.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from eventcore.errors import FieldProblem, InvalidEventError

RECORDS = "application/vnd.eventfn.kafka-records+msgpack"

Header = tuple[str, bytes | None]


class Entry(msgspec.Struct, array_like=True, frozen=True):
    """One Kafka record as the bridge consumed it."""

    topic: str
    partition: int
    offset: int
    timestamp_ms: int | None
    key: bytes | None
    value: bytes | None
    headers: list[Header]


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(list[Entry])


def encode(entries: Sequence[Entry]) -> bytes:
    """The body of a batch of records."""
    return _encoder.encode(entries)


def decode(body: bytes) -> list[Entry]:
    """The records of a batch; InvalidEventError when the body is not one."""
    try:
        return _decoder.decode(body)
    except msgspec.DecodeError as error:
        # msgspec names where it failed: "Expected `int`, got `str` - at `$[0][1]`".
        raise InvalidEventError(
            [FieldProblem("body", f"is not a batch of Kafka records as {RECORDS} ({error})")]
        ) from None
