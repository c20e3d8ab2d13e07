import orjson
import pytest

from eventcore.batch import BatchResult, Failure, parse_batch, parse_delivery
from eventcore.errors import InvalidEventError
from tests.samples import sample


def test_valid_batch_has_no_failures():
    parsed = parse_batch(sample("batch.json"))
    assert [e.id for e in parsed.events] == ["log-1", "log-2"]
    assert parsed.failures == []


def test_bad_entries_fail_alone_and_are_not_retryable():
    body = orjson.dumps(
        [
            {"specversion": "1.0", "id": "ok", "source": "/s", "type": "T"},
            {"specversion": "1.0", "id": "no-type", "source": "/s"},
            "not an object",
            {
                "specversion": "1.0",
                "id": "bad-json",
                "source": "/s",
                "type": "T",
                "datacontenttype": "application/json",
                "data_base64": "eyJicm9rZW4=",
            },
        ]
    )
    parsed = parse_batch(body)
    assert [e.id for e in parsed.events] == ["ok"]
    assert parsed.failures == [
        Failure("no-type", "/s", "type: Field required", False),
        Failure(None, None, "batch entry is not a JSON object", False),
        Failure("bad-json", "/s", "data is not valid JSON but its content type says JSON", False),
    ]


@pytest.mark.parametrize("body", [b"{}", b"not json"])
def test_a_body_that_is_no_batch_at_all_raises(body):
    with pytest.raises(InvalidEventError):
        parse_batch(body)


def test_result_round_trips_with_counts():
    result = BatchResult((Failure("a", "/s", "boom", True),), {"inserted": 3})
    assert orjson.loads(result.to_bytes()) == {
        "failures": [{"id": "a", "source": "/s", "reason": "boom", "retryable": True}],
        "inserted": 3,
    }
    assert BatchResult.from_bytes(result.to_bytes()) == result


@pytest.mark.parametrize("body", [b"[]", b'{"failures": 1}', b"<html>", b'{"failures": [1]}'])
def test_an_answer_that_is_no_batch_result_is_refused(body):
    with pytest.raises(ValueError, match=r"batch result|failure"):
        BatchResult.from_bytes(body)


BINARY = {
    "ce-specversion": "1.0",
    "ce-id": "partition:0/offset:7",
    "ce-source": "%2Fsensors%2Fa",
    "ce-type": "TEMP",
    "Content-Type": "application/json",
}


def test_a_binary_mode_event_is_a_delivery_of_one():
    parsed = parse_delivery(b'{"type":"TEMP","value":21}', BINARY)
    assert parsed.single
    assert parsed.failures == []
    (event,) = parsed.events
    assert (event.id, event.source, event.type) == ("partition:0/offset:7", "/sensors/a", "TEMP")
    assert event.data == {"type": "TEMP", "value": 21}


def test_a_structured_event_is_a_delivery_of_one():
    body = orjson.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "T", "data": 1})
    parsed = parse_delivery(body, {"content-type": "application/cloudevents+json; charset=utf-8"})
    assert parsed.single
    assert [e.id for e in parsed.events] == ["x"]


def test_a_single_event_that_cannot_be_stored_is_one_failure_not_an_error():
    headers = {k: v for k, v in BINARY.items() if k != "ce-type"}
    parsed = parse_delivery(b"{}", headers)
    assert (parsed.single, parsed.events) == (True, [])
    (failure,) = parsed.failures
    assert (failure.id, failure.retryable) == ("partition:0/offset:7", False)
    assert "type" in failure.reason
    broken = parse_delivery(b"{not json", BINARY)
    assert "not valid JSON" in broken.failures[0].reason


def test_anything_else_is_the_bridges_batch():
    parsed = parse_delivery(
        sample("batch.json"), {"Content-Type": "application/cloudevents-batch+json"}
    )
    assert (parsed.single, len(parsed.events)) == (False, 2)
    with pytest.raises(InvalidEventError):
        parse_delivery(
            b"{}",
            {"content-type": "application/cloudevents+json", "x": "y"}
            | {"content-type": "application/json"},
        )
