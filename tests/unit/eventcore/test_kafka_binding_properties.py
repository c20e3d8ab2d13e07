"""Properties of the Kafka binding: an event survives to_record and from_record,
and any record at all reads back as attributes with its coordinates."""

import base64
from datetime import UTC

from hypothesis import given, settings
from hypothesis import strategies as st

from eventcore.cloudevent import format_time, validate_event
from eventcore.kafka_binding import COORDINATES, from_record, to_record

storable = st.characters(codec="utf-8", exclude_characters="\x00")
text = st.text(storable, min_size=1, max_size=20)
json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(storable, max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(storable, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
# Extension names no attribute uses (partitionkey, the record key, is drawn as
# text below); values of the three allowed kinds.
extension_names = st.from_regex(r"[a-z0-9]{1,20}", fullmatch=True).filter(
    lambda name: (
        name not in COORDINATES
        and name not in {"specversion", "id", "source", "type", "subject", "time"}
        and name not in {"datacontenttype", "dataschema", "data", "partitionkey"}
    )
)
extensions = st.dictionaries(
    extension_names, text | st.integers(-(2**63), 2**63 - 1) | st.booleans(), max_size=3
)
# JSON data under a JSON content type (or none), or bytes under any other: the
# two ways data travels as a record value.
json_data = st.fixed_dictionaries(
    {"data": json_values.filter(lambda value: value is not None)},
    optional={"datacontenttype": st.sampled_from(["application/json", "application/ld+json"])},
)
binary_data = st.fixed_dictionaries(
    {
        "data_base64": st.binary(min_size=1, max_size=64).map(
            lambda b: base64.b64encode(b).decode()
        ),
        "datacontenttype": st.sampled_from(["application/octet-stream", "text/plain", "image/png"]),
    }
)


@st.composite
def events(draw):
    attributes = {
        "specversion": "1.0",
        "id": draw(text),
        "source": draw(text),
        "type": draw(text),
        **draw(
            st.fixed_dictionaries(
                {}, optional={"subject": text, "dataschema": text, "partitionkey": text}
            )
        ),
        **draw(st.fixed_dictionaries({}, optional={"time": st.datetimes(timezones=st.just(UTC))})),
        **draw(st.just({}) | json_data | binary_data),
        **draw(extensions),
    }
    if "time" in attributes:
        attributes["time"] = format_time(attributes["time"])
    return validate_event(attributes)


def header_text(value):
    return ("true" if value else "false") if isinstance(value, bool) else str(value)


@settings(max_examples=300)
@given(event=events(), partition=st.integers(0, 1000), offset=st.integers(0, 2**62))
def test_an_event_survives_the_record_it_becomes(event, partition, offset):
    record = to_record(event)
    back = validate_event(
        from_record("events", partition, offset, record.key, record.value, record.headers)
    )
    for attribute in ("id", "source", "type", "subject", "time", "dataschema", "datacontenttype"):
        assert getattr(back, attribute) == getattr(event, attribute)
    assert (back.data_bytes() or b"") == (event.data_bytes() or b"")
    # Headers carry text: extensions come back as their header spelling.
    assert back.extensions == {
        **{name: header_text(value) for name, value in event.extensions.items()},
        "kafkatopic": "events",
        "kafkapartition": partition,
        "kafkaoffset": offset,
    }


headers = st.lists(
    st.tuples(
        st.sampled_from(["ce_specversion", "ce_id", "ce_type", "content-type", "CE_Source", "x"])
        | st.text(max_size=10),
        st.none() | st.binary(max_size=30) | st.text(max_size=30),
    ),
    max_size=6,
)


@settings(max_examples=300)
@given(
    key=st.none() | st.binary(max_size=20),
    value=st.none() | st.binary(max_size=100),
    headers=st.none() | headers,
    timestamp=st.none() | st.integers(-(2**40), 2**45),
)
def test_any_record_reads_back_as_attributes_with_its_coordinates(key, value, headers, timestamp):
    attributes = from_record("events", 3, 42, key, value, headers, timestamp)
    assert (attributes["kafkatopic"], attributes["kafkapartition"], attributes["kafkaoffset"]) == (
        "events",
        3,
        42,
    )
    if key is not None:
        assert "partitionkey" in attributes


@settings(max_examples=200)
@given(event=events())
def test_headers_are_the_structured_attributes_in_their_order(event):
    # What outside readers (kcat, the CloudEvents SDK, a KafkaSource) see: every
    # attribute but the data and the partition key, as text, in structured() order.
    expected = [
        ("content-type" if name == "datacontenttype" else f"ce_{name}", header_text(value).encode())
        for name, value in event.structured().items()
        if name not in {"data", "data_base64", "partitionkey"}
    ]
    assert to_record(event).headers == expected
