from datetime import UTC, datetime

import pytest

from eventcore.errors import InvalidEventError, PayloadTooLargeError, UnsupportedMediaTypeError
from eventcore.ingest import Defaults, parse_request
from tests.samples import sample

MAX = 6 * 1024 * 1024
JSON = {"content-type": "application/json"}


def fixed_defaults() -> Defaults:
    ids = iter(f"id-{n}" for n in range(100))
    return Defaults(
        source="/test",
        new_id=lambda: next(ids),
        now=lambda: datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC),
    )


def problems(body: bytes, headers: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(InvalidEventError) as caught:
        parse_request(body, headers or JSON, fixed_defaults(), MAX)
    return [str(p) for p in caught.value.problems]


def test_plain_event_becomes_cloudevent_with_defaults_and_original_as_data():
    ingested = parse_request(sample("plain.json"), JSON, fixed_defaults(), MAX)
    assert ingested.single
    event = ingested.events[0]
    assert event.structured() == {
        "specversion": "1.0",
        "id": "id-0",
        "source": "/test",
        "type": "TEMP",
        "time": "2024-01-02T03:04:05.000000Z",
        "datacontenttype": "application/json",
        "data": {"type": "TEMP", "value": "ALERT:90"},
        "partitionkey": "id-0",
    }


def test_plain_array_keeps_given_id_source_and_subject():
    events = parse_request(sample("plain-array.json"), JSON, fixed_defaults(), MAX).events
    assert [e.type for e in events] == ["TEMP", "TEMP", "PRESSURE"]
    assert (events[2].id, events[2].source) == ("p-1", "/plant/3")
    assert events[1].subject == "sensor-7"
    assert events[1].extensions["partitionkey"] == "sensor-7"


@pytest.mark.parametrize(
    "content_type",
    ["", "text/plain", "application/json; charset=utf-8", "application/x-www-form-urlencoded"],
)
def test_json_is_read_whatever_generic_type_the_client_sends(content_type):
    headers = {"content-type": content_type} if content_type else {}
    events = parse_request(sample("plain.json"), headers, fixed_defaults(), MAX).events
    assert events[0].type == "TEMP"


def test_structured_event_keeps_its_attributes_and_extensions():
    headers = {"Content-Type": "application/cloudevents+json"}
    event = parse_request(sample("structured.json"), headers, fixed_defaults(), MAX).events[0]
    assert (event.id, event.source, event.time) == (
        "tx-0001",
        "/bank/ledger",
        "2024-05-01T12:00:00Z",
    )
    assert event.extensions == {"region": "eu", "partitionkey": "account-42"}
    assert event.data == {"amount": 12500, "currency": "EUR"}


def test_json_object_with_specversion_is_read_as_structured():
    event = parse_request(sample("structured.json"), JSON, fixed_defaults(), MAX).events[0]
    assert event.id == "tx-0001"
    assert event.data == {"amount": 12500, "currency": "EUR"}


def test_batch_gets_missing_time_filled():
    headers = {"content-type": "application/cloudevents-batch+json"}
    ingested = parse_request(sample("batch.json"), headers, fixed_defaults(), MAX)
    assert not ingested.single
    assert [e.id for e in ingested.events] == ["log-1", "log-2"]
    assert all(e.time == "2024-01-02T03:04:05.000000Z" for e in ingested.events)


def test_binary_mode_reads_ce_headers_and_keeps_non_json_data_as_bytes():
    headers = {
        "ce-specversion": "1.0",
        "ce-type": "LOG",
        "ce-source": "/app",
        "ce-id": "b-1",
        "ce-owner": "caf%C3%A9",
        "content-type": "text/plain",
    }
    event = parse_request(b"hello", headers, fixed_defaults(), MAX).events[0]
    assert (event.id, event.type, event.datacontenttype) == ("b-1", "LOG", "text/plain")
    assert event.extensions["owner"] == "café"
    assert event.data_bytes() == b"hello"


def test_binary_mode_with_json_data_parses_it():
    headers = {"ce-specversion": "1.0", "ce-type": "TEMP", "content-type": "application/json"}
    event = parse_request(b'{"value": 3}', headers, fixed_defaults(), MAX).events[0]
    assert event.data == {"value": 3}
    assert (event.id, event.source) == ("id-0", "/test")


def test_empty_body_is_refused_by_name():
    assert problems(b"") == ['body: is empty; send a JSON event such as {"type":"TEMP","value":42}']


def test_malformed_json_is_refused():
    (problem,) = problems(sample("malformed.json"))
    assert problem.startswith("body: is not valid JSON")


def test_wrong_field_type_names_the_field():
    assert problems(sample("wrong-type.json")) == ["type: Input should be a valid string"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'"TEMP"', "body: must be a JSON object or an array of objects, not a string"),
        (b"42", "body: must be a JSON object or an array of objects, not a number"),
        (b"[]", "body: holds no events"),
        (b'[{"type": "A"}, 7]', "[1]: must be a JSON object, not a number"),
        (b'{"value": 1}', "type: Field required"),
        (b'{"type": ""}', "type: String should have at least 1 character"),
        (
            b'{"type": "A", "time": "yesterday"}',
            "time: must be an RFC 3339 timestamp, e.g. 2024-05-01T12:00:00Z",
        ),
        (
            b'{"type": "A", "time": "2024-05-01T12:00:00"}',
            "time: must be an RFC 3339 timestamp with a time zone offset",
        ),
        (b'{"specversion": "0.3", "type": "A"}', "specversion: must be '1.0'"),
        (
            b'{"specversion": "1.0", "type": "A", "Bad-Name": 1}',
            "Bad-Name: not a CloudEvents attribute; "
            "extension names are 1-20 lower-case letters or digits",
        ),
        (
            b'{"specversion": "1.0", "type": "A", "ext": {"x": 1}}',
            "ext: extensions must be strings, integers or booleans",
        ),
        (
            b'{"specversion": "1.0", "type": "A", "data": 1, "data_base64": "AA=="}',
            "data: data and data_base64 exclude each other",
        ),
    ],
)
def test_invalid_input_names_field_and_problem(body, expected):
    assert problems(body)[0] == expected


NUL = "holds a NUL (\\u0000) character, which eventfn cannot store"


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"type": "A\\u0000"}', f"type: {NUL}"),
        (
            b'[{"type": "A"}, {"type": "A", "value": {"x": "bad\\u0000"}}]',
            f"[1].value.x: {NUL}",
        ),
        (
            b'{"type": "A", "source": "' + "\u00e9".encode() * 513 + b'"}',
            "source: must be at most 1024 bytes in UTF-8",
        ),
        (b'{"type": "A", "id": "' + b"x" * 257 + b'"}', "id: must be at most 256 bytes in UTF-8"),
        (
            b'{"type": "A", "value": ' + b"[" * 70 + b"]" * 70 + b"}",
            "value" + "[0]" * 63 + ": nests deeper than 64 levels",
        ),
        (
            b'{"specversion": "1.0", "type": "A", "ext": "' + b"x" * 1025 + b'"}',
            "ext: extension strings must be at most 1024 bytes, without NUL",
        ),
    ],
)
def test_what_postgresql_or_an_encoder_could_not_take_is_refused_at_the_door(body, expected):
    assert problems(body) == [expected]


def test_at_most_10000_events_a_request():
    body = b"[" + b",".join([b'{"type":"A"}'] * 10_001) + b"]"
    assert problems(body) == ["body: holds 10001 events; send at most 10000 at a time"]


def test_every_bad_event_of_an_array_is_reported():
    assert problems(b'[{"type": 1}, {"type": "ok"}, {}]') == [
        "[0].type: Input should be a valid string",
        "[2].type: Field required",
    ]


def test_structured_content_type_requires_an_object():
    assert problems(b"[]", {"content-type": "application/cloudevents+json"}) == [
        "body: application/cloudevents+json must be one JSON object"
    ]


def test_unsupported_content_type_is_refused():
    with pytest.raises(UnsupportedMediaTypeError, match="application/xml"):
        parse_request(b"<event/>", {"content-type": "application/xml"}, fixed_defaults(), MAX)


def test_body_over_the_limit_is_refused_before_parsing():
    with pytest.raises(PayloadTooLargeError):
        parse_request(b"x" * 11, JSON, fixed_defaults(), 10)


def test_an_escaped_backslash_before_u0000_is_no_nul():
    body = b'{"type": "A", "value": "C:\\\\u0000"}'
    event = parse_request(body, JSON, fixed_defaults(), MAX).events[0]
    assert event.data["value"] == "C:\\u0000"


def test_every_event_of_a_request_gets_its_time_and_a_fresh_id():
    events = parse_request(b'[{"type": "A"}, {"type": "B"}]', JSON, Defaults(), MAX).events
    assert events[0].time == events[1].time
    assert events[0].id != events[1].id


def test_a_default_source_that_no_event_could_carry_is_refused_at_once():
    with pytest.raises(ValueError, match="default source"):
        Defaults(source="")
