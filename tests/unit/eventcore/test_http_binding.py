"""The CloudEvents HTTP binding: which mode a request is in, and binary mode's event."""

from __future__ import annotations

import base64

import pytest

from eventcore.http_binding import HttpMessage, Mode


@pytest.mark.parametrize(
    ("headers", "mode"),
    [
        ({"Ce-Specversion": "1.0", "Content-Type": "application/cloudevents+json"}, Mode.BINARY),
        ({"Content-Type": "application/cloudevents+json; charset=utf-8"}, Mode.STRUCTURED),
        ({"CONTENT-TYPE": "Application/CloudEvents-Batch+JSON"}, Mode.BATCH),
        ({"Content-Type": "application/json"}, Mode.OTHER),
        ({}, Mode.OTHER),
    ],
)
def test_the_mode_comes_from_the_headers_whatever_their_case(headers, mode):
    assert HttpMessage.read(headers, b"{}").mode is mode


def test_binary_mode_headers_are_attributes_percent_decoded():
    message = HttpMessage.read(
        {
            "Ce-Specversion": "1.0",
            "ce-id": "a%20b",
            "CE-Source": "/s%C3%A9",
            "Ce-Type": "T",
            "Content-Type": "application/json; charset=utf-8",
            "X-Other": "kept out",
        },
        b'{"value": 1}',
    )
    assert message.binary_event() == {
        "specversion": "1.0",
        "id": "a b",
        "source": "/sé",
        "type": "T",
        "datacontenttype": "application/json; charset=utf-8",
        "data": {"value": 1},
    }


def test_binary_data_that_is_not_json_travels_as_base64():
    headers = {"ce-specversion": "1.0", "content-type": "application/octet-stream"}
    event = HttpMessage.read(headers, b"\x00\x01").binary_event()
    assert event["data_base64"] == base64.b64encode(b"\x00\x01").decode()
    assert "data" not in event


def test_binary_json_that_does_not_parse_is_kept_as_bytes_for_the_receiver_to_refuse():
    event = HttpMessage.read({"ce-specversion": "1.0"}, b"{nope").binary_event()
    assert base64.b64decode(event["data_base64"]) == b"{nope"


def test_a_strict_reader_refuses_binary_json_that_does_not_parse():
    def strict(body: bytes) -> object:
        raise LookupError("refused")

    with pytest.raises(LookupError):
        HttpMessage.read({"ce-specversion": "1.0"}, b"{nope").binary_event(load_json=strict)


def test_an_empty_body_has_no_data():
    assert "data" not in HttpMessage.read({"ce-specversion": "1.0"}, b"").binary_event()
