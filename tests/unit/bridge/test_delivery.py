import orjson
import pytest

from bridge.deadletter import dead_letter
from bridge.delivery import (
    Record,
    RetryPolicy,
    apply_result,
    batch_body,
    blames_no_event,
    inadmissible,
    split_by_size,
)
from eventcore import record_batch
from eventcore.batch import BatchResult, Failure, parse_delivery
from eventcore.cloudevent import BATCH, validate_event
from eventcore.kafka_binding import to_record


def policy(max_attempts: int = 5, max_age_s: float = 0.0) -> RetryPolicy:
    return RetryPolicy(max_attempts=max_attempts, max_age_s=max_age_s)


def record(
    offset: int, partition: int = 0, event_id: str | None = None, timestamp_ms: int = 1
) -> Record:
    event = validate_event(
        {
            "specversion": "1.0",
            "id": event_id or f"e-{offset}",
            "source": "/s",
            "type": "T",
            "datacontenttype": "application/json",
            "data": {"n": offset},
            "partitionkey": "k",
        }
    )
    kafka = to_record(event)
    return Record("events", partition, offset, kafka.key, kafka.value, kafka.headers, timestamp_ms)


def test_only_failed_records_stay_and_non_retryable_ones_die():
    records = [record(0), record(1), record(2)]
    result = BatchResult(
        (Failure("e-1", "/s", "db hiccup", True), Failure("e-2", "/s", "bad", False))
    )
    outcome = apply_result(records, result, now=100.0, policy=policy())
    assert [r.offset for r in outcome.delivered] == [0]
    assert [r.offset for r in outcome.retry] == [1]
    assert [r.offset for r in outcome.dead] == [2]
    assert (records[2].attempts, records[2].last_reason, records[2].first_failure) == (
        1,
        "bad",
        100.0,
    )


def test_a_record_that_keeps_failing_dies_after_max_attempts():
    one = record(0)
    result = BatchResult((Failure("e-0", "/s", "again", True),))
    for now in (1.0, 2.0):
        assert apply_result([one], result, now, policy(max_attempts=3)).retry == [one]
    outcome = apply_result([one], result, 3.0, policy(max_attempts=3))
    assert outcome.dead == [one]
    assert (one.attempts, one.first_failure, one.last_failure) == (3, 1.0, 3.0)


def test_a_failing_record_older_than_the_maximum_age_dies_at_once():
    written_at = 1000.0
    old = record(0, timestamp_ms=int(written_at * 1000))
    result = BatchResult((Failure("e-0", "/s", "db hiccup", True),))
    assert apply_result([old], result, written_at + 59, policy(max_age_s=60)).retry == [old]
    outcome = apply_result([old], result, written_at + 61, policy(max_age_s=60))
    assert outcome.dead == [old]
    assert old.last_reason == "older than the maximum record age (60s): db hiccup"
    # no maximum age by default
    forever = record(1, timestamp_ms=0)
    retried = apply_result(
        [forever], BatchResult((Failure("e-1", "/s", "x", True),)), 1e9, policy()
    )
    assert retried.retry == [forever]


def test_whole_failures_that_say_nothing_about_the_events():
    assert all(blames_no_event(s) for s in (None, 401, 403, 404, 429, 503))
    assert not any(blames_no_event(s) for s in (200, 500, 502, 504))


def test_batch_body_carries_each_record_as_kafka_gave_it():
    one = record(3, 2)
    (entry,) = record_batch.decode(batch_body([one]))
    assert (entry.topic, entry.partition, entry.offset) == ("events", 2, 3)
    assert (entry.key, entry.value, entry.headers) == (one.key, one.value, one.headers)


def test_the_functions_read_a_forwarded_record_as_the_event_publish_wrote():
    parsed = parse_delivery(batch_body([record(3, 2)]), {"Content-Type": record_batch.RECORDS})
    (event,) = parsed.events
    assert (event.id, event.data) == ("e-3", {"n": 3})
    assert event.extensions["kafkapartition"] == 2
    assert event.extensions["kafkaoffset"] == 3


def test_split_by_size_keeps_order_and_bounds_each_chunk():
    records = [record(n) for n in range(10)]
    chunks = split_by_size(records, max_bytes=len(batch_body(records[:3])) + 1)
    assert [r.offset for chunk in chunks for r in chunk] == list(range(10))
    assert all(len(batch_body(chunk)) <= len(batch_body(records[:3])) + 1 for chunk in chunks)


def test_records_without_the_required_attributes_are_inadmissible():
    junk = Record("events", 0, 1, None, b"x", [("ce_specversion", b"1.0")], None)
    assert inadmissible(junk, 1000) == "not a CloudEvent: id, source, type missing or not a string"
    assert inadmissible(record(0), 1000) is None


def test_a_record_too_deep_to_encode_as_json_is_inadmissible_only_for_json_batches():
    deep = b"[" * 300 + b"]" * 300
    headers = [
        ("ce_specversion", b"1.0"),
        ("ce_id", b"x"),
        ("ce_source", b"/s"),
        ("ce_type", b"T"),
        ("content-type", b"application/json"),
    ]
    deep_record = Record("events", 0, 1, None, deep, headers, None)
    reason = inadmissible(deep_record, 10_000, BATCH)
    assert reason is not None
    assert reason.startswith("cannot be encoded as JSON")
    # forwarded as it is, it is for the function to refuse
    assert inadmissible(deep_record, 10_000) is None


def test_json_batches_are_structured_events_with_coordinates():
    body = orjson.loads(batch_body([record(3, 2)], BATCH))
    assert body[0]["id"] == "e-3"
    assert (body[0]["kafkapartition"], body[0]["kafkaoffset"]) == (2, 3)
    records = [record(n) for n in range(10)]
    bound = len(batch_body(records[:3], BATCH)) + 1
    chunks = split_by_size(records, bound, BATCH)
    assert all(len(batch_body(chunk, BATCH)) <= bound for chunk in chunks)


def test_a_record_larger_than_one_invocation_is_inadmissible():
    big = record(0)
    assert len(batch_body([big])) <= big.size + 5
    assert inadmissible(big, big.size + 2) is None
    assert "over the" in (inadmissible(big, big.size + 1) or "")


def test_only_blamed_failures_count_towards_dead_lettering():
    one = record(0)
    for now in range(10):  # a long outage of the function
        one.failed(float(now), 503, "busy", rejected=False)
    result = BatchResult((Failure("e-0", "/s", "later", True),))
    assert apply_result([one], result, 11.0, policy(max_attempts=3)).retry == [one]
    assert (one.attempts, one.rejections) == (11, 1)
    one.blame()
    assert apply_result([one], result, 12.0, policy(max_attempts=3)).dead == [one]


def test_dead_letter_keeps_the_original_and_adds_the_error_context():
    dying = record(4, 1)
    dying.failed(1714564800.0, 200, "type: Field required", rejected=True)
    letter = dead_letter(dying, "persist")
    assert (letter.key, letter.value) == (dying.key, dying.value)
    headers = dict(letter.headers)
    assert headers["ce_id"] == b"e-4"
    assert headers["eventfn.error.topic"] == b"events"
    assert headers["eventfn.error.partition"] == b"1"
    assert headers["eventfn.error.offset"] == b"4"
    assert headers["eventfn.error.attempts"] == b"1"
    assert headers["eventfn.error.function"] == b"persist"
    assert headers["eventfn.error.status"] == b"200"
    assert headers["eventfn.error.first.failure"] == b"2024-05-01T12:00:00.000Z"
    assert headers["eventfn.error.reason"] == b"type: Field required"


@pytest.mark.parametrize("event_id", ["dup"])
def test_failures_apply_to_every_record_with_that_identity(event_id):
    records = [record(0, event_id=event_id), record(1, event_id=event_id)]
    outcome = apply_result(
        records, BatchResult((Failure(event_id, "/s", "no", False),)), 1.0, policy()
    )
    assert outcome.dead == records
