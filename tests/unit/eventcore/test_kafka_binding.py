import base64

import orjson

from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import FOREIGN_TYPE, from_record, to_record


def event(**overrides):
    attributes = {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/s",
        "type": "TEMP",
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"value": "ALERT:90"},
        "partitionkey": "sensor-1",
        "flag": True,
    }
    return validate_event({**attributes, **overrides})


def test_binary_mode_record_has_ce_headers_key_and_data_value():
    record = to_record(event())
    assert record.key == b"sensor-1"
    assert orjson.loads(record.value) == {"value": "ALERT:90"}
    assert dict(record.headers) == {
        "ce_specversion": b"1.0",
        "ce_id": b"e-1",
        "ce_source": b"/s",
        "ce_type": b"TEMP",
        "ce_time": b"2024-05-01T12:00:00Z",
        "content-type": b"application/json",
        "ce_flag": b"true",
    }


def test_round_trip_adds_coordinates_and_keeps_the_rest():
    record = to_record(event())
    back = from_record("events", 2, 40, record.key, record.value, record.headers, 1)
    assert back == {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/s",
        "type": "TEMP",
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"value": "ALERT:90"},
        "partitionkey": "sensor-1",
        "flag": "true",
        "kafkatopic": "events",
        "kafkapartition": 2,
        "kafkaoffset": 40,
    }
    assert validate_event(back).id == "e-1"


def test_non_json_data_travels_as_bytes_and_returns_as_base64():
    raw = b"\x00\x01binary"
    record = to_record(
        event(
            datacontenttype="application/octet-stream",
            data=None,
            data_base64=base64.b64encode(raw).decode(),
        )
    )
    assert record.value == raw
    back = from_record("events", 0, 1, record.key, record.value, record.headers)
    assert base64.b64decode(back["data_base64"]) == raw


def test_json_value_that_does_not_parse_comes_back_as_base64_for_the_function_to_refuse():
    record = to_record(event())
    back = from_record("events", 0, 1, record.key, b'{"broken', record.headers)
    assert "data" not in back
    assert base64.b64decode(back["data_base64"]) == b'{"broken'


def test_a_record_without_ce_headers_gets_an_identity_from_its_coordinates():
    back = from_record(
        "events", 5, 77, None, b'{"type":"TEMP","value":"ALERT:90"}', [], 1714564800000
    )
    assert back["id"] == "partition:5/offset:77"
    assert back["source"] == "/eventfn/kafka/events"
    assert back["type"] == "TEMP"
    assert back["time"] == "2024-05-01T12:00:00.000Z"
    assert back["data"] == {"type": "TEMP", "value": "ALERT:90"}


def test_a_foreign_record_timed_past_year_9999_is_read_without_a_time():
    # kcat and any producer may set a record's timestamp to anything
    back = from_record("events", 0, 4, None, b'{"type":"TEMP"}', [], 2**62)
    assert back["id"] == "partition:0/offset:4"
    assert "time" not in back


def test_a_foreign_record_that_is_not_an_event_object_keeps_the_generic_type():
    back = from_record("events", 0, 3, b"k", b"plain text", None)
    assert back["type"] == FOREIGN_TYPE
    assert back["partitionkey"] == "k"
    assert base64.b64decode(back["data_base64"]) == b"plain text"


def test_structured_mode_record_is_read_too():
    value = orjson.dumps({"specversion": "1.0", "id": "x", "source": "/s", "type": "T", "data": 1})
    back = from_record(
        "events", 0, 9, None, value, [("content-type", b"application/cloudevents+json")]
    )
    assert (back["id"], back["data"], back["kafkaoffset"]) == ("x", 1, 9)
