"""PostgreSQL: one connection per process, and bulk idempotent writes of events."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any

import orjson
import psycopg

from eventcore.batch import Failure
from eventcore.cloudevent import CloudEvent, parse_time
from eventcore.kafka_binding import COORDINATES

_STAGING = """
CREATE TEMPORARY TABLE IF NOT EXISTS events_staging (
    source text, id text, type text, subject text, time timestamptz,
    datacontenttype text, data jsonb, data_binary bytea, extensions jsonb,
    kafka_topic text, kafka_partition integer, kafka_offset bigint
) ON COMMIT DELETE ROWS
"""
# The columns COPY and INSERT fill, in this order (see _row).
_COPY_EVENTS = """
COPY events (source, id, type, subject, time, datacontenttype, data, data_binary,
             extensions, kafka_topic, kafka_partition, kafka_offset) FROM STDIN
"""
_COPY_STAGING = """
COPY events_staging (source, id, type, subject, time, datacontenttype, data, data_binary,
                     extensions, kafka_topic, kafka_partition, kafka_offset) FROM STDIN
"""
_MERGE = """
INSERT INTO events (source, id, type, subject, time, datacontenttype, data, data_binary,
                    extensions, kafka_topic, kafka_partition, kafka_offset)
SELECT source, id, type, subject, time, datacontenttype, data, data_binary,
       extensions, kafka_topic, kafka_partition, kafka_offset
FROM events_staging
ON CONFLICT (source, id) DO NOTHING
"""
_INSERT_ONE = """
INSERT INTO events (source, id, type, subject, time, datacontenttype, data, data_binary,
                    extensions, kafka_topic, kafka_partition, kafka_offset)
VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)
ON CONFLICT (source, id) DO NOTHING
"""


class Database:
    """A lazily opened connection that is reopened after it broke."""

    def __init__(self, url: str, application_name: str) -> None:
        self._url = url
        self._application_name = application_name
        self._connection: psycopg.Connection[Any] | None = None

    @contextmanager
    def transaction(self) -> Iterator[psycopg.Connection[Any]]:
        """A connection inside a transaction; a broken connection is dropped on the way out."""
        connection = self._connect()
        try:
            with connection.transaction():
                yield connection
        except psycopg.Error:
            if connection.broken:
                self.close()
            raise

    def ping(self) -> None:
        """Raise unless PostgreSQL answers: what an empty batch checks."""
        with self.transaction() as connection:
            connection.execute("SELECT 1")

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    def _connect(self) -> psycopg.Connection[Any]:
        if self._connection is None or self._connection.closed or self._connection.broken:
            self._connection = psycopg.connect(
                self._url,
                autocommit=True,
                connect_timeout=5,
                application_name=self._application_name,
            )
            self._connection.execute(_STAGING)
        return self._connection


class EventStore:
    """Writes events once per (source, id)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    def write(self, events: Sequence[CloudEvent]) -> tuple[int, list[Failure]]:
        """Insert the events; returns how many were new and the events refused.

        A batch goes to PostgreSQL in one COPY straight into ``events``. If an
        event is there already (a redelivery, or twice in the batch), that
        COPY is undone and the batch goes through a staging table and one
        INSERT ... ON CONFLICT DO NOTHING instead. When PostgreSQL refuses a
        value (a NUL character, say), the batch is written again row by row
        so only that event fails.
        """
        if not events:
            # An empty batch is the bridge asking whether events could be
            # written now (to tell an outage from an event that fails alone).
            self._database.ping()
            return 0, []
        storable, rows, failures = _rows(events)
        if not rows:
            return 0, failures
        try:
            with self._database.transaction() as connection, connection.cursor() as cursor:
                try:
                    with connection.transaction():
                        _copy(cursor, _COPY_EVENTS, rows)
                    return len(rows), failures
                except psycopg.errors.UniqueViolation:
                    pass
                _copy(cursor, _COPY_STAGING, rows)
                cursor.execute(_MERGE)
                return max(cursor.rowcount, 0), failures
        except _REFUSALS:
            inserted, refused = self._write_one_by_one(storable, rows)
            return inserted, failures + refused

    def _write_one_by_one(
        self, events: Sequence[CloudEvent], rows: list[tuple[Any, ...]]
    ) -> tuple[int, list[Failure]]:
        inserted = 0
        failures = []
        with self._database.transaction() as connection, connection.cursor() as cursor:
            for event, row in zip(events, rows, strict=True):
                try:
                    with connection.transaction():
                        cursor.execute(_INSERT_ONE, row)
                        inserted += max(cursor.rowcount, 0)
                except _REFUSALS as error:
                    failures.append(Failure(event.id, event.source, _refusal(error), False))
        return inserted, failures


# What PostgreSQL says about a value it will never take, however often asked:
# a bad value (class 22) or one too big for an index entry (54000).
_REFUSALS = (psycopg.errors.DataError, psycopg.errors.ProgramLimitExceeded)


def _refusal(error: psycopg.Error) -> str:
    return f"PostgreSQL refused it: {error.diag.message_primary or error}"


def _copy(cursor: psycopg.Cursor[Any], statement: str, rows: list[tuple[Any, ...]]) -> None:
    with cursor.copy(statement) as copy:
        for row in rows:
            copy.write_row(row)


def _rows(
    events: Sequence[CloudEvent],
) -> tuple[list[CloudEvent], list[tuple[Any, ...]], list[Failure]]:
    """The events that can be written, their rows, and the failures of the rest."""
    storable: list[CloudEvent] = []
    rows: list[tuple[Any, ...]] = []
    failures: list[Failure] = []
    for event in events:
        try:
            rows.append(_row(event))
        except TypeError as error:  # data nested deeper than JSON encoders go
            reason = f"cannot be stored: its data nests too deep to encode as JSON ({error})"
            failures.append(Failure(event.id, event.source, reason, False))
            continue
        storable.append(event)
    return storable, rows, failures


def _row(event: CloudEvent) -> tuple[Any, ...]:
    extensions = event.extensions
    coordinates = [extensions.pop(name, None) for name in COORDINATES]
    data: str | None = None
    binary: bytes | None = None
    if event.data_base64 is not None or (event.data is not None and not event.is_json):
        binary = event.data_bytes()
    elif event.data is not None:
        data = orjson.dumps(event.data).decode()
    return (
        event.source,
        event.id,
        event.type,
        event.subject,
        _time(event.time),
        event.datacontenttype,
        data,
        binary,
        orjson.dumps(extensions).decode(),
        *coordinates,
    )


def _time(value: str | None) -> datetime | None:
    return None if value is None else parse_time(value)
