"""Properties of parse_request: any request is events or an EventError, and what it
parses survives being encoded and parsed again."""

from datetime import UTC, datetime

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from eventcore.cloudevent import BATCH, STRUCTURED, format_time
from eventcore.errors import EventError, PayloadTooLargeError
from eventcore.ingest import Defaults, parse_request

MAX = 64 * 1024
CONTENT_TYPES = [
    "",
    "application/json",
    "application/json; charset=utf-8",
    "text/plain",
    "text/json",
    "application/x-www-form-urlencoded",
    STRUCTURED,
    BATCH,
    "application/vnd.acme+json",
    "application/octet-stream",
    "image/png",
]
HEADER_NAMES = [
    "content-type",
    "Content-Type",
    "ce-specversion",
    "ce-id",
    "ce-source",
    "ce-type",
    "ce-time",
    "ce-subject",
    "ce-partitionkey",
    "ce-Bad_Name",
    "x-other",
]

# Text eventfn can store (no NUL), and JSON as orjson reads it: integers within
# 64 bits, finite floats.
storable = st.characters(codec="utf-8", exclude_characters="\x00")
scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(storable, max_size=12)
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(storable, max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
times = st.datetimes(timezones=st.just(UTC)).map(format_time)
attribute_text = st.text(storable, min_size=1, max_size=20)
plain_events = st.fixed_dictionaries(
    {"type": attribute_text},
    optional={
        "value": json_values,
        "id": attribute_text,
        "source": attribute_text,
        "subject": attribute_text,
        "time": times,
        "reading": json_values,
    },
)
structured_events = st.fixed_dictionaries(
    {"specversion": st.just("1.0"), "type": attribute_text},
    optional={
        "id": attribute_text,
        "source": attribute_text,
        "subject": attribute_text,
        "time": times,
        "data": json_values,
        "sensor": attribute_text | st.integers(-5, 5) | st.booleans(),
    },
)
# Bodies: JSON that looks like events, any JSON, and any bytes at all.
bodies = st.one_of(
    plain_events.map(orjson.dumps),
    st.lists(plain_events | structured_events, max_size=3).map(orjson.dumps),
    structured_events.map(orjson.dumps),
    json_values.map(orjson.dumps),
    st.text(st.characters(codec="utf-8")).map(str.encode),
    st.binary(max_size=200),
)
headers = st.dictionaries(
    st.sampled_from(HEADER_NAMES),
    st.sampled_from([*CONTENT_TYPES, "1.0", "%00", "%ZZ", "2024-05-01T12:00:00Z"]) | st.text(),
    max_size=4,
)


def fixed_defaults() -> Defaults:
    ids = iter(f"id-{n}" for n in range(100_000))
    return Defaults(
        source="/test", new_id=lambda: next(ids), now=lambda: datetime(2024, 1, 2, tzinfo=UTC)
    )


@settings(max_examples=400)
@given(body=bodies, headers=headers)
def test_any_request_is_events_or_an_event_error(body, headers):
    try:
        ingested = parse_request(body, headers, fixed_defaults(), MAX)
    except EventError:
        return
    assert ingested.events
    assert not ingested.single or len(ingested.events) == 1
    # Every event can be stored and keyed: the producer and persist rely on it.
    for event in ingested.events:
        assert event.extensions["partitionkey"]
        orjson.dumps(event.structured())


@settings(max_examples=50)
@given(body=bodies, headers=headers)
def test_a_body_over_the_limit_is_refused_before_it_is_read(body, headers):
    try:
        parse_request(body, headers, fixed_defaults(), len(body) - 1)
    except PayloadTooLargeError:
        return
    raise AssertionError("a body over the limit was accepted")


@settings(max_examples=200)
@given(events=st.lists(plain_events | structured_events, min_size=1, max_size=4))
def test_valid_events_parse_and_parse_again_to_the_same_events(events):
    first = parse_request(orjson.dumps(events), {}, fixed_defaults(), MAX)
    assert [event.type for event in first.events] == [event["type"] for event in events]
    structured = [event.structured() for event in first.events]
    again = parse_request(orjson.dumps(structured), {"content-type": BATCH}, Defaults(), MAX)
    assert again.events == first.events
    for event in first.events:
        alone = parse_request(
            orjson.dumps(event.structured()), {"content-type": STRUCTURED}, Defaults(), MAX
        )
        assert alone.events == [event]
