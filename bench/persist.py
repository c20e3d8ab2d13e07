"""Row 5: events/s from the events topic through the bridge and the persist
function into PostgreSQL, beside a raw ``COPY`` of the same rows (L3) and the
original system's consumer design: one INSERT and one commit per event.

The events are put on the topic first, exactly as publish puts them (parsed by
``eventcore.ingest``, encoded by the Kafka binding, sent by publish's own
producer); then a bridge feeding only persist starts in a fresh consumer group
whose offsets were committed at the events' first offsets, so it reads these
events and nothing older. Rows are told apart by ``seq`` (nothing else writes
meanwhile), so counts are exact without touching the events' values.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import psycopg
from confluent_kafka import Consumer, TopicPartition
from psycopg import sql

from bench import cpu
from bench.calls import call_means, gateway_calls
from bench.offsets import end_offsets, start_groups_at
from bench.payload import json_array
from bench.report import Row, Target, at_least
from bench.sizes import Size
from bench.stack import Stack
from bridge.settings import BridgeSettings
from eventcore.cloudevent import validate_event
from eventcore.ingest import Defaults, parse_request
from eventcore.kafka_binding import from_record, to_record
from eventio.database import _INSERT_ONE, _row
from eventio.producer import EventProducer
from infra.topics import EVENTS

# Events parsed and produced per step (ingest takes at most 10,000 a request).
CHUNK = 5_000
TARGET_OF_L3 = 0.5
TARGET_TIMES_NAIVE = 20.0
# The twelve columns persist fills, in its order (eventio.database._COPY).
COLUMNS = (
    "source, id, type, subject, time, datacontenttype, data, data_binary, "
    "extensions, kafka_topic, kafka_partition, kafka_offset"
)


# --- pure helpers -----------------------------------------------------------


def rate(count: int, seconds: float) -> float:
    """Events per second; 0 when no time passed (nothing was measured)."""
    return count / seconds if seconds > 0 else 0.0


def cycled(lines: Sequence[bytes], count: int) -> list[bytes]:
    """``count`` lines, going round ``lines`` as often as needed."""
    return [lines[i % len(lines)] for i in range(count)]


# --- I/O ----------------------------------------------------------------------


def produce(bootstrap: str, lines: Sequence[bytes]) -> None:
    """Put the events on the events topic as publish does, acknowledged (acks=all)."""
    producer = EventProducer(bootstrap, "bench-persist", timeout_s=30.0)
    for start in range(0, len(lines), CHUNK):
        body = json_array(lines[start : start + CHUNK])
        ingested = parse_request(body, {"content-type": "application/json"}, Defaults(), 1 << 30)
        producer.send(EVENTS, [to_record(event) for event in ingested.events])
    producer.close()


def last_seq(connection: psycopg.Connection[Any]) -> int:
    row = connection.execute("SELECT coalesce(max(seq), 0) FROM events").fetchone()
    return int(row[0]) if row else 0


def count_since(connection: psycopg.Connection[Any], seq: int) -> int:
    row = connection.execute("SELECT count(*) FROM events WHERE seq > %s", (seq,)).fetchone()
    return int(row[0]) if row else 0


def wait_for_rows(
    connection: psycopg.Connection[Any], seq: int, expected: int, timeout: float
) -> float:
    """The wall time at which ``expected`` rows past ``seq`` were seen.

    Each poll counts only the rows new since the last one (by ``seq``), so
    polling stays cheap while the table grows; a full count confirms the end.
    """
    deadline = time.monotonic() + timeout
    seen, mark = 0, seq
    while time.monotonic() < deadline:
        row = connection.execute(
            "SELECT count(*), coalesce(max(seq), %s) FROM events WHERE seq > %s", (mark, mark)
        ).fetchone()
        assert row is not None
        new, mark = int(row[0]), int(row[1])
        seen += new
        if seen >= expected or not new:
            # seq order is insert order, not commit order: persist's instances
            # write side by side, and rows of a transaction that commits later
            # than a counted one lie below the mark. The total is counted again
            # when the increments reach the goal or stall.
            seen = count_since(connection, seq)
            if seen >= expected:
                return time.time()
        time.sleep(0.05)
    raise TimeoutError(f"{seen} of {expected} events reached PostgreSQL within {timeout:.0f}s")


def through_bridge(
    stack: Stack, connection: psycopg.Connection[Any], seq: int, lines: Sequence[bytes]
) -> tuple[dict[str, float], dict[str, float]]:
    """Produce the events, then time a persist-only bridge until all are rows
    (those past ``seq``); the times, and the CPU (cores) each part of the stack
    used meanwhile."""
    offsets = end_offsets(stack.kafka)
    produce(stack.kafka, lines)
    prefix = f"bench-persist-{uuid.uuid4().hex[:8]}-"
    start_groups_at(stack.kafka, [prefix + "persist"], offsets)
    calls_before = gateway_calls(stack.gateway_url)
    started = time.time()
    with stack.start_bridge("persist", group_prefix=prefix):
        ready = time.time()
        with cpu.measure() as cores:
            done = wait_for_rows(connection, seq, len(lines), timeout=60 + len(lines) / 500)
    calls = call_means(calls_before, gateway_calls(stack.gateway_url))
    # received_at is now() of persist's transaction: one value per batch.
    row = connection.execute(
        "SELECT extract(epoch FROM t)::float8, (SELECT count(*) FROM events"
        " WHERE seq > %s AND received_at = t)"
        " FROM (SELECT min(received_at) AS t FROM events WHERE seq > %s) AS first",
        (seq, seq),
    ).fetchone()
    assert row is not None
    return {
        "started": started,
        "ready": ready,
        "first_row": float(row[0]),
        "first_batch": float(row[1]),
        "done": done,
        "persist_calls": calls.get("persist_calls", 0.0),
        "persist_call_mean_ms": calls.get("persist_call_mean_ms", 0.0),
    }, cores


def copy_rows(connection: psycopg.Connection[Any], seq: int, batch: int | None = None) -> float:
    """Seconds to COPY the rows persist wrote (past ``seq``) into a scratch
    table shaped like events (same indexes, logged like events): in one
    transaction, or in one transaction per ``batch`` rows as persist commits."""
    rows = connection.execute(
        "SELECT source, id, type, subject, time, datacontenttype, data::text, data_binary,"
        " extensions::text, kafka_topic, kafka_partition, kafka_offset"
        " FROM events WHERE seq > %s ORDER BY seq",
        (seq,),
    ).fetchall()
    step = batch or len(rows) or 1
    table = sql.Identifier(f"bench_copy_{uuid.uuid4().hex[:8]}")
    connection.execute(sql.SQL("CREATE TABLE {} (LIKE events INCLUDING ALL)").format(table))
    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(table, sql.SQL(COLUMNS))
    try:
        began = time.perf_counter()
        for start in range(0, len(rows), step):
            with (
                connection.transaction(),
                connection.cursor() as cursor,
                cursor.copy(statement) as copy,
            ):
                for values in rows[start : start + step]:
                    copy.write_row(values)
        return time.perf_counter() - began
    finally:
        connection.execute(sql.SQL("DROP TABLE {}").format(table))


def naive_consumer(stack: Stack, offsets: Mapping[int, int], count: int) -> float:
    """Seconds for the original design to store ``count`` events: per event,
    INSERT it, commit, and commit its offset; from its first event to its last.

    The offset commit is asynchronous (it does not wait for the broker), which
    is the kinder choice for this baseline. The values and statement are
    persist's own (one-by-one path), so only the design differs."""
    consumer = Consumer(
        {
            "bootstrap.servers": stack.kafka,
            "group.id": f"bench-naive-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
        }
    )
    consumer.assign([TopicPartition(EVENTS, p, o) for p, o in offsets.items()])
    deadline = time.monotonic() + 60 + count / 20
    done, began = 0, 0.0
    try:
        with psycopg.connect(stack.database_url, application_name="bench-naive") as connection:
            while done < count:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"naive consumer: {done} of {count} events stored in time")
                message = consumer.poll(1.0)
                if message is None or message.error() is not None:
                    continue
                if done == 0:
                    began = time.perf_counter()
                headers = message.headers()
                attributes = from_record(
                    message.topic() or EVENTS,
                    message.partition() or 0,
                    message.offset() or 0,
                    message.key(),
                    message.value(),
                    list(headers.items()) if isinstance(headers, dict) else headers,
                    message.timestamp()[1],
                )
                connection.execute(_INSERT_ONE, _row(validate_event(attributes)))
                connection.commit()
                consumer.commit(message=message, asynchronous=True)
                done += 1
        return time.perf_counter() - began
    finally:
        consumer.close()


# --- the rows -----------------------------------------------------------------


def run(stack: Stack, size: Size, payload: list[bytes]) -> list[Row]:
    lines = cycled(payload, size.persist_events)
    naive_lines = cycled(payload, size.naive_events)
    bridge = BridgeSettings.from_env(stack.env, targets={})
    with psycopg.connect(stack.database_url, autocommit=True) as connection:
        seq = last_seq(connection)
        try:
            timed, cores = through_bridge(stack, connection, seq, lines)
            copy_s = copy_rows(connection, seq)
            # The same COPY committed per bridge batch: how much of the gap to
            # L3 is committing in batches rather than the work per event.
            copy_batched_s = copy_rows(connection, seq, bridge.max_batch)
            # The naive consumer gets events of its own (the same payload lines),
            # so its INSERTs are real inserts, not conflicts with persist's rows.
            naive_seq = last_seq(connection)
            offsets = end_offsets(stack.kafka)
            produce(stack.kafka, naive_lines)
            with cpu.measure() as naive_cores:
                naive_s = naive_consumer(stack, offsets, len(naive_lines))
            stored = count_since(connection, naive_seq)
            if stored != len(naive_lines):
                raise RuntimeError(f"naive consumer: {stored} rows for {len(naive_lines)} events")
        finally:
            # The rows go again, so later rows and runs on one database see the
            # table as it was.
            connection.execute("DELETE FROM events WHERE seq > %s", (seq,))
    found = rows(size, timed, (copy_s, copy_batched_s), naive_s, bridge)
    # The CPU each part of the stack used while persist's and the naive figure ran.
    return [
        replace(found[0], settings={**found[0].settings, "cpu_cores": cores}),
        replace(found[1], settings={**found[1].settings, "cpu_cores_naive": naive_cores}),
    ]


def rows(
    size: Size,
    timed: Mapping[str, float],
    copies: tuple[float, float],
    naive_s: float,
    bridge: BridgeSettings,
) -> list[Row]:
    """Row 5 (persist against COPY) and 5b (persist against the naive consumer)."""
    events = size.persist_events
    # From the first transaction's start to the last row: the first batch's
    # fetch and POST fall before that start, so its events are not counted.
    persist = rate(events - int(timed["first_batch"]), timed["done"] - timed["first_row"])
    copy_s, copy_batched_s = copies
    copy = rate(events, copy_s)
    naive = rate(size.naive_events, naive_s)
    calls = timed["persist_calls"]
    settings: dict[str, Any] = {
        "events": events,
        "naive_events": size.naive_events,
        "produced_by": "eventio.producer.EventProducer (publish's): acks=all, idempotent",
        "figure": "events after the first batch / (first batch's transaction start → "
        "all rows counted, polled every 50 ms)",
        "bridge": "persist only, fresh group started at the events' first offsets",
        "bridge_max_batch": bridge.max_batch,
        "bridge_batch_window_s": bridge.batch_window_s,
        "bridge_max_in_flight": bridge.max_in_flight,
        "l3": "one COPY of the same rows (same column values) into a scratch table "
        "LIKE events INCLUDING ALL, one transaction, psycopg write_row (detail: the same "
        "COPY committed every bridge_max_batch rows)",
        "naive": "confluent-kafka consumer: per event INSERT, COMMIT, async offset commit",
    }
    detail = {
        "events_per_s_from_bridge_start": rate(events, timed["done"] - timed["started"]),
        "seconds_bridge_start_to_ready": timed["ready"] - timed["started"],
        "seconds_first_row_to_last": timed["done"] - timed["first_row"],
        "copy_seconds": copy_s,
        "copy_per_batch_events_per_s": rate(events, copy_batched_s),
        "persist_calls": calls,
        "persist_mean_batch": events / calls if calls else 0.0,
        "persist_call_mean_ms": timed["persist_call_mean_ms"],
        # The share of the timed span spent inside persist calls; the rest is
        # the bridge (fetch, batch window, encoding, HTTP) and the gateway.
        "persist_call_share": (calls * timed["persist_call_mean_ms"] / 1000)
        / max(1e-9, timed["done"] - timed["first_row"]),
    }
    return [
        Row(
            key="5",
            name="Persist: events topic → bridge → persist → PostgreSQL",
            figure=persist,
            unit="events/s",
            limit_name="L3 raw COPY",
            limit=copy,
            targets=(at_least(TARGET_OF_L3, "L3", persist / copy if copy else 0.0),),
            settings=settings,
            detail=detail,
        ),
        Row(
            key="5b",
            name="Persist against the naive per-row consumer (INSERT + commit per event)",
            figure=persist,
            unit="events/s",
            limit_name="naive consumer",
            limit=naive,
            targets=(
                Target(
                    f"≥ {TARGET_TIMES_NAIVE:.0f}× the naive consumer",
                    persist >= TARGET_TIMES_NAIVE * naive,
                ),
            ),
            settings=settings,
            detail={"naive_seconds": naive_s, "naive_events_per_s": naive},
        ),
    ]
