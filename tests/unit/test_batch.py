import orjson
import pytest

from eventcore.batch import BatchResult, Failure, parse_batch
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
