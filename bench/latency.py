"""Row 7: end-to-end latency at a fixed rate, from the publish request to the
alert stage, beside Kafka's own produce-to-consume round trip on the same machine.

Open loop: every ``PER_REQUEST`` events go out as one JSON array on a fixed
cadence (10 every 10 ms at 1,000 events/s), whatever the answers, from
aiohttp with as many connections as that takes. Each event's clock starts
when its request is handed to the client (``time.time()``) and stops when the
alert stage applied it (``alert_applied_events.applied_at``): PostgreSQL's
``now()``, the start of the alert function's transaction, on the same machine
clock. Per-stage times of the same
events (publish's answer, the Kafka record's timestamp, persist's
``received_at``) and the functions' call times from the gateway's metrics go
into the row's detail: they say where the time goes.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import aiohttp
import orjson
import psycopg
import uvloop
from confluent_kafka import Consumer, Producer, TopicPartition

from bench import cpu
from bench.calls import call_means, gateway_calls
from bench.offsets import end_offsets, start_groups_at
from bench.report import Row, Target
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import percentile
from bridge.settings import BridgeSettings
from eventcore.ingest import Defaults, parse_request
from eventcore.rules import Rule, load_rules, match
from infra.settings import ROOT
from infra.topics import EVENTS, TopicSpec, ensure_topics

# 10 events a request: at 1,000 events/s that is 100 requests/s, one every 10 ms.
PER_REQUEST = 10
TARGET_P99_MS = 50.0
RULES = ROOT / "functions" / "alert" / "rules.yaml"
# Kafka's floor is measured on a topic of its own, so no bridge ever reads it.
FLOOR_TOPIC = "bench.latency"
FLOOR_WARMUP = 20
ANSWER_TIMEOUT_S = 10.0
# Connections the client may open: enough for every request to go out on time
# even when answers take a second.
MAX_CONNECTIONS = 256
_JSON = {"content-type": "application/json"}
# Enough of the payload to find events of every alerting kind, without
# validating all of a large file.
RULE_SCAN_LINES = 5_000
# Warm-up at the timed rate: at least long enough for Knative's 6-second panic
# window to be full of the load and a 2-second tick to act on it; then in steps
# until the pools are settled; at most WARMUP_MAX_S in all.
WARMUP_MIN_S = 8.0
WARMUP_STEP_S = 2.0
WARMUP_MAX_S = 30.0
# After the last request, how long the last alerts may take to appear.
DRAIN_TIMEOUT_S = 30.0
_FUNCTIONS = ("publish", "persist", "alert")


# --- pure helpers -----------------------------------------------------------


def summary(values: Sequence[float], prefix: str = "", worst: bool = True) -> dict[str, float]:
    """p50, p99 and (``worst``) max of ``values``, keys prefixed (``ack_p50_ms``
    ...); none when there are no values (a stage that could not be observed)."""
    if not values:
        return {}
    found = {f"{prefix}p50_ms": percentile(values, 50), f"{prefix}p99_ms": percentile(values, 99)}
    if worst:
        found[f"{prefix}max_ms"] = max(values)
    return found


def delays_ms(starts: Mapping[str, float], ends: Mapping[str, float]) -> tuple[list[float], int]:
    """For each id in ``starts`` (epoch seconds), ``ends[id] - starts[id]`` in ms;
    and how many ids have no end."""
    found = [(ends[key] - began) * 1000 for key, began in starts.items() if key in ends]
    return found, len(starts) - len(found)


def alerting_lines(payload: Iterable[bytes], rules: list[Rule]) -> list[bytes]:
    """The payload events exactly one rule holds for: each timed event is then
    applied by the alert stage, which records it (alert_applied_events)."""
    chosen = []
    for line in payload:
        events = parse_request(line, {"content-type": "application/json"}, Defaults(), 1 << 20)
        if len(events.events) != 1:
            continue
        holding = [r for r in rules if (found := match(r, events.events[0])) and found.holds]
        if len(holding) == 1:
            chosen.append(line)
    return chosen


def bodies(lines: Sequence[bytes], source: str, count: int, per_request: int) -> list[bytes]:
    """``count`` events from ``lines`` (cycled), every one's source set to
    ``source``, as JSON arrays of ``per_request``."""
    events = [
        orjson.dumps({**orjson.loads(lines[i % len(lines)]), "source": source})
        for i in range(count)
    ]
    return [
        b"[" + b",".join(events[i : i + per_request]) + b"]" for i in range(0, count, per_request)
    ]


def settled(pools: Mapping[str, Mapping[str, Any]]) -> bool:
    """Whether no pool (as ``GET /scaling`` shows it) is about to change: each
    has the instances it wants, none starting, and the load its autoscaler saw
    over the panic window fits the instances it has."""
    for pool in pools.values():
        if pool["ready"] != pool["desired"] or pool["starting"]:
            return False
        decision = pool.get("lastDecision")
        if decision is not None:
            metric, target = pool["scaling"]["metric"], pool["scaling"]["target"]
            if decision["observed"]["panic"][metric] > target * pool["ready"]:
                return False
    return True


# --- I/O ----------------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One request: when it was due and handed over, when answered, what came back."""

    due: float
    sent: float
    answered: float
    status: int
    ids: tuple[str, ...]


async def _post(session: aiohttp.ClientSession, url: str, body: bytes, due: float) -> Sent:
    sent = time.time()
    try:
        async with session.post(url, data=body, headers=_JSON) as response:
            status, answer = response.status, await response.read()
    except (aiohttp.ClientError, TimeoutError):
        return Sent(due, sent, time.time(), 0, ())
    answered = time.time()
    ids = tuple(orjson.loads(answer)["ids"]) if status == 202 else ()
    return Sent(due, sent, answered, status, ids)


async def _send_at_rate(
    url: str, requests: Sequence[bytes], interval: float, connections: int
) -> list[Sent]:
    """POST each body on schedule (open loop): a late answer delays nothing,
    unless all ``connections`` are busy (then the request waits for one)."""
    connector = aiohttp.TCPConnector(limit=connections, limit_per_host=connections)
    timeout = aiohttp.ClientTimeout(total=ANSWER_TIMEOUT_S)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
        loop = asyncio.get_running_loop()
        first_mono, first_wall = loop.time() + 0.05, time.time() + 0.05
        tasks = []
        for index, body in enumerate(requests):
            offset = index * interval
            await asyncio.sleep(max(0.0, first_mono + offset - loop.time()))
            tasks.append(asyncio.create_task(_post(session, url, body, first_wall + offset)))
        return list(await asyncio.gather(*tasks))


def send_at_rate(
    url: str, requests: Sequence[bytes], interval: float, connections: int = MAX_CONNECTIONS
) -> list[Sent]:
    """aiohttp on uvloop: the cheapest client per request, so the client takes as
    little of the 2 cores from the pipeline as a Python client can."""
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(_send_at_rate(url, requests, interval, connections))


def kafka_round_trips(bootstrap: str, values: Sequence[bytes]) -> list[float]:
    """ms from producing one record (acks=all, no linger) until a consumer has
    it, one at a time: what ``EndToEndLatency`` measures, in the Python client
    the pipeline uses and to the microsecond (the Java tool prints whole ms)."""
    ensure_topics(bootstrap, (TopicSpec(FLOOR_TOPIC, 1),))
    producer = Producer(
        {"bootstrap.servers": bootstrap, "acks": "all", "linger.ms": 0, "enable.idempotence": True}
    )
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"bench-floor-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": 0,
        }
    )
    try:
        _, end = consumer.get_watermark_offsets(TopicPartition(FLOOR_TOPIC, 0), timeout=10)
        consumer.assign([TopicPartition(FLOOR_TOPIC, 0, end)])
        trips = []
        for value in values:
            began = time.perf_counter()
            producer.produce(FLOOR_TOPIC, value=value, partition=0)
            producer.flush(10)
            deadline = began + 10
            while (message := consumer.poll(0.5)) is None or message.error() is not None:
                if time.perf_counter() > deadline:
                    raise TimeoutError(f"{FLOOR_TOPIC}[0]: a record did not come back in 10 s")
            trips.append((time.perf_counter() - began) * 1000)
        return trips[FLOOR_WARMUP:]  # the first trips set up connections
    finally:
        consumer.close()


def _alert_times(
    connection: psycopg.Connection[Any], source: str, since: float
) -> dict[str, float]:
    rows = connection.execute(
        "SELECT event_id, min(extract(epoch FROM applied_at))::float8 FROM alert_applied_events"
        " WHERE applied_at >= to_timestamp(%s) AND event_source = %s GROUP BY event_id",
        (since - 60, source),
    ).fetchall()
    return {event_id: created for event_id, created in rows}


def _row_times(connection: psycopg.Connection[Any], source: str, _since: float) -> dict[str, float]:
    rows = connection.execute(
        "SELECT id, extract(epoch FROM received_at)::float8 FROM events WHERE source = %s",
        (source,),
    ).fetchall()
    return {event_id: received for event_id, received in rows}


def wait_for_times(
    database_url: str,
    query: Callable[[psycopg.Connection[Any], str, float], dict[str, float]],
    source: str,
    expected: int,
    since: float,
    timeout: float,
) -> dict[str, float]:
    """The times ``query`` finds for ``source``'s events, once ``expected`` are
    there or ``timeout`` has passed (then fewer: the missing are reported)."""
    deadline = time.monotonic() + timeout
    with psycopg.connect(database_url, autocommit=True) as connection:
        while True:
            times = query(connection, source, since)
            if len(times) >= expected or time.monotonic() > deadline:
                return times
            time.sleep(0.2)


def kafka_times(
    bootstrap: str, start: Mapping[int, int], source: str, timeout: float = 30.0
) -> dict[str, float]:
    """Each event of ``source`` on the events topic after ``start`` (partition ->
    offset): its record timestamp (publish's produce call, ms resolution)."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": "bench-latency-read",
            "enable.auto.commit": False,
        }
    )
    try:
        ends = end_offsets(bootstrap)
        pending = {p for p in start if ends[p] > start[p]}
        consumer.assign([TopicPartition(EVENTS, p, o) for p, o in start.items() if p in pending])
        wanted = source.encode()
        times: dict[str, float] = {}
        deadline = time.monotonic() + timeout
        while pending and time.monotonic() < deadline:
            for message in consumer.consume(1000, 0.5):
                partition, offset = message.partition(), message.offset()
                if message.error() is not None or partition is None or offset is None:
                    continue
                headers = dict(message.headers() or [])
                event_id = headers.get("ce_id")
                if headers.get("ce_source") == wanted and isinstance(event_id, bytes):
                    times[event_id.decode()] = message.timestamp()[1] / 1000
                if offset + 1 >= ends[partition]:
                    pending.discard(partition)
        return times
    finally:
        consumer.close()


# --- the row ------------------------------------------------------------------


def _publish(
    stack: Stack, lines: Sequence[bytes], rate: int, seconds: float, source: str
) -> tuple[list[Sent], float]:
    """Publish ``rate`` events/s for ``seconds``; the requests and the wall time
    before the first."""
    count = max(PER_REQUEST, int(rate * seconds) // PER_REQUEST * PER_REQUEST)
    requests = bodies(lines, source, count, PER_REQUEST)
    started = time.time()
    return send_at_rate(f"{stack.gateway_url}/publish", requests, PER_REQUEST / rate), started


def _accepted(sent: Sequence[Sent]) -> int:
    return sum(len(s.ids) for s in sent)


def _pools(stack: Stack) -> dict[str, dict[str, Any]]:
    return {name: pool for name, pool in stack.scaling().items() if name in _FUNCTIONS}


def warm_up(stack: Stack, lines: Sequence[bytes], size: Size, source: str) -> float:
    """Publish at the timed rate until the pools hold what the rate needs
    (publish scales on requests/s: 100 requests/s want 2 instances) and any new
    instance has served calls; the seconds it took. Otherwise a scale-up in the
    timed run would time a new instance's first call (its Kafka producer
    connecting): a cold start, not the steady state."""
    began = time.monotonic()
    seconds = max(size.warmup_seconds, WARMUP_MIN_S)
    before = {name: pool["ready"] for name, pool in _pools(stack).items()}
    while True:
        warm, started = _publish(stack, lines, size.latency_rate, seconds, source)
        wait_for_times(
            stack.database_url, _alert_times, source, _accepted(warm), started, DRAIN_TIMEOUT_S
        )
        pools = _pools(stack)
        now = {name: pool["ready"] for name, pool in pools.items()}
        if (settled(pools) and now == before) or time.monotonic() - began > WARMUP_MAX_S:
            return time.monotonic() - began
        before, seconds = now, WARMUP_STEP_S


def run(stack: Stack, size: Size, payload: list[bytes]) -> list[Row]:
    lines = alerting_lines(payload[:RULE_SCAN_LINES], load_rules(RULES.read_text()))
    if not lines:
        raise ValueError("the payload holds no event that raises exactly one alert")
    floor = kafka_round_trips(
        stack.kafka,
        [lines[i % len(lines)] for i in range(FLOOR_WARMUP + size.latency_floor_messages)],
    )
    run_id = uuid.uuid4().hex[:8]
    source = f"/bench/latency/{run_id}"
    prefix = f"bench-latency-{run_id}-"
    start_groups_at(stack.kafka, (prefix + "persist", prefix + "alert"), end_offsets(stack.kafka))
    url = stack.database_url
    with stack.start_bridge("persist,alert", group_prefix=prefix):
        # Warm-up at the same rate: the bridge's first fetches, the connections
        # and the instances are all set up before the clock runs.
        warmup_s = warm_up(stack, lines, size, source + "/w")
        scaled_before = _pools(stack)
        offsets = end_offsets(stack.kafka)
        calls_before = gateway_calls(stack.gateway_url)
        with cpu.measure() as cores:
            sent, began = _publish(stack, lines, size.latency_rate, size.latency_seconds, source)
            alerts = wait_for_times(
                url, _alert_times, source, _accepted(sent), began, DRAIN_TIMEOUT_S
            )
        calls = call_means(calls_before, gateway_calls(stack.gateway_url))
        scaled_after = _pools(stack)
        # persist runs beside alert, not before it: its rows may come a little later.
        rows = wait_for_times(url, _row_times, source, _accepted(sent), began, 10.0)
    records = kafka_times(stack.kafka, offsets, source)
    # Instances before and after the timed run: a change means it timed a scaling.
    instances = {f"{name}_instances_before": p["ready"] for name, p in scaled_before.items()}
    instances |= {f"{name}_instances_after": p["ready"] for name, p in scaled_after.items()}
    row = _row(size, sent, alerts, rows, records, floor, {**calls, **instances}, stack, warmup_s)
    # The CPU each part of the stack used while the timed events went through.
    return [replace(row, settings={**row.settings, "cpu_cores": cores})]


def _row(
    size: Size,
    sent: Sequence[Sent],
    alerts: Mapping[str, float],
    rows: Mapping[str, float],
    records: Mapping[str, float],
    floor: Sequence[float],
    calls: Mapping[str, float],
    stack: Stack,
    warmup_s: float,
) -> Row:
    send_times = {event_id: s.sent for s in sent for event_id in s.ids}
    latencies, missing = delays_ms(send_times, alerts)
    if not latencies:
        raise RuntimeError(f"the alert stage applied none of {len(send_times)} accepted events")
    answers = {event_id: s.answered for s in sent for event_id in s.ids}
    refused = sum(PER_REQUEST for s in sent if s.status != 202)
    p99 = percentile(latencies, 99)
    bridge = BridgeSettings.from_env(stack.env, targets={})
    # Each stage from the same send time: publish's answer, the record's
    # timestamp (publish's produce call), persist's transaction; then the
    # client's own lateness, Kafka's floor and the functions' mean call times.
    detail: dict[str, float] = {
        "p50_ms": percentile(latencies, 50),
        "max_ms": max(latencies),
        "events": len(send_times),
        "missing_alerts": missing,
        "refused_events": refused,
        **summary(delays_ms(send_times, answers)[0], "ack_", worst=False),
        **summary(delays_ms(send_times, records)[0], "kafka_record_", worst=False),
        **summary(delays_ms(send_times, rows)[0], "persisted_", worst=False),
        "client_slip_p99_ms": percentile([(s.sent - s.due) * 1000 for s in sent], 99),
        "floor_p50_ms": percentile(floor, 50),
        **{k: v for k, v in calls.items() if not k.endswith("_calls") or k == "alert_calls"},
    }
    return Row(
        key="7",
        name="End-to-end latency p99: /publish request → alert stage",
        figure=p99,
        unit="ms",
        limit_name="Kafka round trip p99",
        limit=percentile(floor, 99),
        lower_is_better=True,
        targets=(
            Target(
                f"p99 ≤ {TARGET_P99_MS:.0f} ms at {size.latency_rate:,} events/s",
                p99 <= TARGET_P99_MS and missing == 0 and refused == 0,
            ),
        ),
        settings={
            "rate_events_per_s": size.latency_rate,
            "seconds": size.latency_seconds,
            "warmup_seconds": round(warmup_s, 1),
            "events_per_request": PER_REQUEST,
            "request_interval_ms": PER_REQUEST / size.latency_rate * 1000,
            "client": "aiohttp on uvloop, open loop on a fixed cadence",
            "events": "payload events exactly one rule holds for, source made unique",
            "clock": "request handed to the client (time.time) → "
            "alert_applied_events.applied_at (now() of the alert function's transaction)",
            "bridge": "persist,alert",
            "bridge_max_batch": bridge.max_batch,
            "bridge_batch_window_s": bridge.batch_window_s,
            # fixed in the bridge's consumer (bridge/worker.py)
            "bridge_fetch_wait_max_ms": 100,
            "floor": f"confluent-kafka produce→consume round trip, one at a time, acks=all, "
            f"linger.ms=0, fetch.wait.max.ms=0, {len(floor)} records after {FLOOR_WARMUP} warm-up",
            "autoscaler": dict(stack.autoscaler),
        },
        detail=detail,
    )
