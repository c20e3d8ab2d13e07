"""``python -m bridge.redrive`` against real Kafka, then with the real pipeline:
a dead letter fixed and redriven lands once; one that fails again does not loop."""

from __future__ import annotations

import contextlib
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import psycopg
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from psycopg import sql

from bridge.deadletter import dead_letter
from bridge.delivery import Record
from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import to_record
from infra.ports import free_port
from infra.topics import TopicSpec, ensure_topics
from infra.waiting import wait_until
from tests.support import ROOT, header, pipeline_env, python_env, read_topic, running, topic_size

pytestmark = pytest.mark.integration

SECRET = b"Bearer must-not-be-printed"


@dataclass
class Topics:
    """An events topic and a dead-letter topic of one test's own, and its redrive."""

    bootstrap: str
    events: str
    dlq: str
    group_prefix: str

    def bury(self, *letters: tuple[Record, str], partition: int = 0) -> None:
        """Dead-letter these (record, function) pairs as the bridge does."""
        producer = Producer({"bootstrap.servers": self.bootstrap, "enable.idempotence": True})
        for record, function in letters:
            letter = dead_letter(record, function)
            producer.produce(
                self.dlq,
                key=letter.key,
                value=letter.value,
                headers=letter.headers,
                partition=partition,
            )
        assert producer.flush(10) == 0

    def redrive(self, *args: str, **env: str) -> subprocess.CompletedProcess[str]:
        settings = {
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "EVENTFN_EVENTS_TOPIC": self.events,
            "EVENTFN_DLQ_TOPIC": self.dlq,
            "EVENTFN_BRIDGE_GROUP_PREFIX": self.group_prefix,
            **env,
        }
        return subprocess.run(
            [sys.executable, "-m", "bridge.redrive", *args],
            env=python_env(settings),
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def replayed(self, count: int) -> list:
        """The first ``count`` records of the events topic, which must hold exactly that many."""
        assert topic_size(self.bootstrap, self.events) == count
        return read_topic(self.bootstrap, self.events, lambda ms: len(ms) >= count)


def own_topics(bootstrap: str, name: str, dlq_partitions: int = 2) -> Topics:
    suffix = uuid.uuid4().hex[:8]
    topics = Topics(
        bootstrap, f"{name}-events-{suffix}", f"{name}-dlq-{suffix}", f"{name}-{suffix}-"
    )
    ensure_topics(bootstrap, (TopicSpec(topics.events, 3), TopicSpec(topics.dlq, dlq_partitions)))
    return topics


@pytest.fixture
def topics(kafka_bootstrap: str) -> Topics:
    return own_topics(kafka_bootstrap, "redrive-test")


def failed(
    n: int,
    reason: str = "PostgreSQL refused it: no",
    extra: list[tuple[str, bytes]] | None = None,
) -> Record:
    """A record of the events topic after a function refused it."""
    event = validate_event(
        {
            "specversion": "1.0",
            "id": f"ev-{n}",
            "source": "/redrive-test",
            "type": "T",
            "datacontenttype": "application/json",
            "data": {"n": n, "card": "4111-1111"},
            "partitionkey": f"key-{n}",
        }
    )
    kafka = to_record(event)
    headers = [*kafka.headers, ("authorization", SECRET), *(extra or [])]
    record = Record("events", n % 3, 100 + n, kafka.key, kafka.value, headers, 1)
    record.failed(1_738_324_800.0 + n, 200, reason, rejected=True)
    return record


def lines(result: subprocess.CompletedProcess[str], decision: str) -> list[str]:
    """The ``id=`` of every record line with this decision, in the order printed."""
    return [
        word.removeprefix("id=")
        for text in result.stdout.splitlines()
        if decision in text
        for word in text.split()
        if word.startswith("id=")
    ]


def summary(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    return result.stdout.splitlines()[-1]


def committed(bootstrap: str, group: str, topic: str) -> int:
    """The offset the redrive's group committed on partition 0 of ``topic``."""
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    try:
        (position,) = consumer.committed([TopicPartition(topic, 0)], timeout=10)
        return int(position.offset)
    finally:
        consumer.close()


def ce_id(message) -> str:
    return (header(message, "ce_id") or b"").decode()


def test_a_dry_run_prints_what_it_would_replay_and_changes_nothing(topics: Topics):
    topics.bury((failed(1), "persist"), (failed(2), "persist"))
    topics.bury((failed(3), "alert"), partition=1)

    dry = topics.redrive("--dry-run")
    assert summary(dry) == (
        "selected 3 / replayed 0 / skipped (loop guard) 0"
        " / skipped (duplicate) 0 / filtered out 0 (dry run)"
    )
    assert sorted(lines(dry, "-> would replay")) == ["ev-1", "ev-2", "ev-3"]
    assert topic_size(topics.bootstrap, topics.events) == 0

    # the dry run committed nothing: the real run sees all three
    real = topics.redrive()
    assert summary(real) == (
        "selected 3 / replayed 3 / skipped (loop guard) 0 / skipped (duplicate) 0 / filtered out 0"
    )
    assert sorted(ce_id(m) for m in topics.replayed(3)) == ["ev-1", "ev-2", "ev-3"]


def test_an_event_dead_lettered_twice_is_replayed_and_counted_once(topics: Topics):
    # A bridge that crashed between producing a dead letter and committing the
    # original's offset dead-letters it again: two copies of one event.
    topics.bury((failed(1), "persist"), (failed(2), "persist"), (failed(1), "persist"))

    dry = topics.redrive("--dry-run")
    assert lines(dry, "-> skipped (duplicate)") == ["ev-1"]
    assert f"the same event as {topics.dlq}[0]@0" in dry.stdout
    real = topics.redrive()
    assert summary(real) == (
        "selected 2 / replayed 2 / skipped (loop guard) 0 / skipped (duplicate) 1 / filtered out 0"
    )
    assert sorted(ce_id(m) for m in topics.replayed(2)) == ["ev-1", "ev-2"]


def test_a_replay_is_the_original_record_with_a_count_and_a_second_run_replays_nothing(
    topics: Topics,
):
    record = failed(1)
    topics.bury((record, "persist"))

    first = topics.redrive()
    assert summary(first) == (
        "selected 1 / replayed 1 / skipped (loop guard) 0 / skipped (duplicate) 0 / filtered out 0"
    )
    (line,) = [text for text in first.stdout.splitlines() if "id=ev-1" in text]
    assert line.startswith(f"{topics.dlq}[0]@0 id=ev-1 function=persist from=events[1]@101")
    assert line.endswith('reason="PostgreSQL refused it: no" -> replay')
    # never the value, nor a header that may hold a secret
    assert SECRET.decode() not in first.stdout + first.stderr
    assert "4111" not in first.stdout + first.stderr

    (message,) = topics.replayed(1)
    assert (message.key(), message.value()) == (record.key, record.value)
    headers = message.headers()
    assert headers[: len(record.headers)] == list(record.headers)
    assert [name for name, _ in headers[len(record.headers) :]] == [
        "eventfn.redrive.count",
        "eventfn.redrive.time",
    ]
    assert header(message, "eventfn.redrive.count") == b"1"
    assert not [name for name, _ in headers if name.startswith("eventfn.error.")]

    assert committed(topics.bootstrap, topics.group_prefix + "redrive", topics.dlq) == 1
    second = topics.redrive()
    assert summary(second) == (
        "selected 0 / replayed 0 / skipped (loop guard) 0 / skipped (duplicate) 0 / filtered out 0"
    )
    assert topic_size(topics.bootstrap, topics.events) == 1


def test_filters_and_a_limit_select_what_they_say_and_the_next_run_resumes(
    kafka_bootstrap: str,
):
    topics = own_topics(kafka_bootstrap, "redrive-filter", dlq_partitions=1)
    topics.bury(
        (failed(1, "PostgreSQL refused it: A"), "persist"),
        (failed(2, "PostgreSQL refused it: B"), "alert"),
        (failed(3, "timed out C"), "persist"),
        (failed(4, "PostgreSQL refused it: D"), "persist"),
        (failed(5, "PostgreSQL refused it: E"), "persist"),
    )
    chosen = ("--function", "persist", "--error", "refused")

    limited = topics.redrive(*chosen, "--limit", "2")
    assert summary(limited) == (
        "selected 2 / replayed 2 / skipped (loop guard) 0 / skipped (duplicate) 0 / filtered out 2"
    )
    assert lines(limited, "-> replay") == ["ev-1", "ev-4"]
    assert lines(limited, "-> filtered out") == ["ev-2", "ev-3"]
    assert "ev-5" not in limited.stdout  # past the limit: not even read
    assert sorted(ce_id(m) for m in topics.replayed(2)) == ["ev-1", "ev-4"]

    rest = topics.redrive(*chosen)
    assert lines(rest, "-> replay") == ["ev-5"]
    assert summary(rest) == (
        "selected 1 / replayed 1 / skipped (loop guard) 0 / skipped (duplicate) 0 / filtered out 0"
    )
    assert summary(topics.redrive()).startswith("selected 0 / replayed 0")

    # passed over by the group; --from-beginning reconsiders them, dry or not
    again = topics.redrive("--from-beginning", "--dry-run", "--function", "alert")
    assert lines(again, "-> would replay") == ["ev-2"]
    late = topics.redrive("--since", "2025-01-31T12:00:03Z", "--until", "2025-01-31T12:00:05Z")
    assert summary(late).startswith("selected 0")  # the group is at the end already
    window = topics.redrive(
        "--from-beginning", "--since", "2025-01-31T12:00:03Z", "--until", "2025-01-31T12:00:05Z"
    )
    assert lines(window, "-> replay") == ["ev-3", "ev-4"]
    assert topic_size(topics.bootstrap, topics.events) == 5


def test_a_record_at_the_loop_guard_limit_is_skipped_unless_the_limit_is_raised(topics: Topics):
    once = [("eventfn.redrive.count", b"1"), ("eventfn.redrive.time", b"2025-01-31T12:00:00Z")]
    topics.bury((failed(1, extra=once), "persist"))
    topics.bury((failed(2), "persist"), partition=1)

    guarded = topics.redrive()
    assert summary(guarded) == (
        "selected 1 / replayed 1 / skipped (loop guard) 1 / skipped (duplicate) 0 / filtered out 0"
    )
    assert lines(guarded, "-> skipped (loop guard)") == ["ev-1"]
    (replayed,) = topics.replayed(1)
    assert (ce_id(replayed), header(replayed, "eventfn.redrive.count")) == ("ev-2", b"1")

    raised = topics.redrive("--from-beginning", "--max-redrives", "2", "--error", "^200$")
    assert sorted(lines(raised, "-> replay")) == ["ev-1", "ev-2"]
    (twice,) = [m for m in topics.replayed(3) if ce_id(m) == "ev-1"]
    counts = [value for name, value in twice.headers() if name == "eventfn.redrive.count"]
    assert counts == [b"2"]


def test_kafka_errors_exit_1_with_a_message_and_no_traceback(topics: Topics):
    unreachable = Topics(f"127.0.0.1:{free_port()}", topics.events, topics.dlq, "x-")
    result = unreachable.redrive("--timeout", "2")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"redrive: Kafka at {unreachable.bootstrap}: looking up the topic {topics.dlq} "
        "did not succeed within 2s: "
    )
    assert "Traceback" not in result.stderr

    missing = topics.redrive(EVENTFN_DLQ_TOPIC="redrive-test-no-such-topic")
    assert missing.returncode == 1
    assert missing.stderr.startswith("redrive: topic redrive-test-no-such-topic at ")
    assert "Traceback" not in missing.stderr

    bad = topics.redrive("--since", "yesterday")
    assert bad.returncode == 2
    assert "argument --since: 'yesterday' is not an ISO-8601 time" in bad.stderr


# The real pipeline: gateway, persist, bridge on the session's Kafka and PostgreSQL.


@dataclass
class Pipeline:
    gateway: httpx.Client
    topics: Topics
    database_url: str
    run_dir: Path

    def publish(self, event: dict) -> str:
        response = self.gateway.post("/publish", json=event)
        assert response.status_code == 202, response.text
        return str(response.json()["id"])

    def dead_letter_of(self, event_id: str, redrives: bytes | None = None):
        """The dead letter of ``event_id`` (with that redrive count), once the bridge wrote it."""

        def found(messages: list) -> list:
            return [
                m
                for m in messages
                if ce_id(m) == event_id and header(m, "eventfn.redrive.count") == redrives
            ]

        return found(read_topic(self.topics.bootstrap, self.topics.dlq, found, timeout_s=60))[0]


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[Pipeline]:
    topics = own_topics(kafka_bootstrap, "redrive-e2e", dlq_partitions=1)
    run_dir = tmp_path_factory.mktemp("redrive-e2e")
    port, bridge_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = {
        **pipeline_env(run_dir, kafka_bootstrap, database_url, port, bridge_port, ("persist",)),
        "EVENTFN_EVENTS_TOPIC": topics.events,
        "EVENTFN_DLQ_TOPIC": topics.dlq,
        "EVENTFN_BRIDGE_GROUP_PREFIX": topics.group_prefix,
        "EVENTFN_BRIDGE_BACKOFF_INITIAL_S": "0.05",
        "EVENTFN_BRIDGE_MAX_ATTEMPTS": "1",
    }
    bridge_url = f"http://127.0.0.1:{bridge_port}"
    with (
        running("gateway", env, f"{gateway_url}/readyz", run_dir / "gateway.log"),
        running("bridge", env, f"{bridge_url}/readyz", run_dir / "bridge.log"),
        httpx.Client(base_url=gateway_url, timeout=60) as client,
    ):
        yield Pipeline(client, topics, database_url, run_dir)


@contextlib.contextmanager
def refusing(database_url: str, event_type: str) -> Iterator[Callable[[], None]]:
    """A trigger on ``events`` that makes PostgreSQL refuse events of one type, as
    a bad value would (SQLSTATE class 22, which persist reports as not retryable).
    Yields the fix, which drops it; it is dropped on the way out whatever happened."""
    name = sql.Identifier(f"redrive_test_{uuid.uuid4().hex[:8]}")
    with psycopg.connect(database_url, autocommit=True) as conn:

        def fix() -> None:
            conn.execute(sql.SQL("DROP TRIGGER IF EXISTS {} ON events").format(name))
            conn.execute(sql.SQL("DROP FUNCTION IF EXISTS {}()").format(name))

        try:
            conn.execute(
                sql.SQL(
                    """CREATE FUNCTION {}() RETURNS trigger LANGUAGE plpgsql AS $$
                    BEGIN
                        RAISE EXCEPTION 'the redrive test refuses events of type %', NEW.type
                            USING ERRCODE = 'data_exception';
                    END $$"""
                ).format(name)
            )
            conn.execute(
                sql.SQL(
                    "CREATE TRIGGER {name} BEFORE INSERT ON events FOR EACH ROW "
                    "WHEN (NEW.type = {type}) EXECUTE FUNCTION {name}()"
                ).format(name=name, type=sql.Literal(event_type))
            )
            yield fix
        finally:
            fix()


def rows(database_url: str, event_id: str) -> int:
    with psycopg.connect(database_url, autocommit=True) as conn:
        (count,) = conn.execute("select count(*) from events where id = %s", (event_id,)).fetchone()
        return int(count)


def test_a_fixed_dead_letter_is_redriven_and_lands_in_events_exactly_once(pipeline: Pipeline):
    topics = pipeline.topics
    event_type = f"REDRIVE_FIXED_{uuid.uuid4().hex[:6].upper()}"
    with refusing(pipeline.database_url, event_type) as fix:
        event_id = pipeline.publish({"type": event_type, "value": 1})
        letter = pipeline.dead_letter_of(event_id)
        assert header(letter, "eventfn.error.function") == b"persist"
        assert b"refuses events of type" in header(letter, "eventfn.error.reason")
        assert rows(pipeline.database_url, event_id) == 0
        fix()

        published = topic_size(topics.bootstrap, topics.events)
        result = topics.redrive()
        assert summary(result).startswith("selected 1 / replayed 1 /")
        assert lines(result, "-> replay") == [event_id]
        assert topic_size(topics.bootstrap, topics.events) == published + 1
        wait_until(lambda: rows(pipeline.database_url, event_id) == 1, timeout=30, what="the row")
        # the row is the replay's, not a late write of the original
        with psycopg.connect(pipeline.database_url, autocommit=True) as conn:
            where = conn.execute(
                "select kafka_topic, kafka_partition, kafka_offset from events where id = %s",
                (event_id,),
            ).fetchone()
        original = tuple(
            header(letter, f"eventfn.error.{name}") for name in ("topic", "partition", "offset")
        )
        assert where is not None
        assert where[0] == topics.events
        assert (str(where[1]).encode(), str(where[2]).encode()) != original[1:]

        again = topics.redrive()
        assert summary(again).startswith("selected 0 / replayed 0 /")
        assert topic_size(topics.bootstrap, topics.events) == published + 1
        assert rows(pipeline.database_url, event_id) == 1


def test_a_redriven_record_that_fails_again_is_dead_lettered_with_its_count_and_not_redriven(
    pipeline: Pipeline,
):
    topics = pipeline.topics
    event_type = f"REDRIVE_BROKEN_{uuid.uuid4().hex[:6].upper()}"
    with refusing(pipeline.database_url, event_type):
        event_id = pipeline.publish({"type": event_type, "value": 2})
        pipeline.dead_letter_of(event_id)

        # redriven while still broken: it fails again, and keeps its count
        first = topics.redrive()
        assert lines(first, "-> replay") == [event_id]
        second_letter = pipeline.dead_letter_of(event_id, redrives=b"1")
        assert header(second_letter, "eventfn.error.function") == b"persist"
        assert b"refuses events of type" in header(second_letter, "eventfn.error.reason")

        events, letters = (topic_size(topics.bootstrap, t) for t in (topics.events, topics.dlq))
        guarded = topics.redrive()
        assert lines(guarded, "-> skipped (loop guard)") == [event_id]
        assert summary(guarded) == (
            "selected 0 / replayed 0 / skipped (loop guard) 1"
            " / skipped (duplicate) 0 / filtered out 0"
        )
        # nothing went back to events, so nothing can come back to the dead-letter topic
        assert topic_size(topics.bootstrap, topics.events) == events
        assert topic_size(topics.bootstrap, topics.dlq) == letters
        assert summary(topics.redrive()).startswith(
            "selected 0 / replayed 0 / skipped (loop guard) 0"
        )
        assert rows(pipeline.database_url, event_id) == 0
