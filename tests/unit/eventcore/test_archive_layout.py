"""Where an archived event lives: a function of its type, time and Kafka coordinates."""

import itertools
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from eventcore.archive_layout import Placement, days, group, parse_key, place, type_folder
from eventcore.batch import Failure
from eventcore.cloudevent import validate_event


def event(offset, *, type_="TEMP", time="2026-11-24T13:45:07.123Z", partition=2, topic="events"):
    attributes = {"specversion": "1.0", "id": f"e-{offset}", "source": "/s", "type": type_}
    if time is not None:
        attributes["time"] = time
    attributes |= {"kafkatopic": topic, "kafkapartition": partition, "kafkaoffset": offset}
    return validate_event(attributes)


def test_the_key_names_type_date_hour_and_the_offset_block():
    placement = place(event(1234), block_size=1000)
    assert placement == Placement(
        "TEMP", datetime(2026, 11, 24, 13, tzinfo=UTC), "events", 2, 1000, 1999
    )
    assert placement.key("eventfn/") == (
        "eventfn/type=TEMP/date=2026-11-24/hour=13/events-2-0000001000-0000001999.ndjson.gz"
    )


def test_the_hour_is_utc_whatever_the_offset_of_the_time():
    placement = place(event(5, time="2026-11-24T23:30:00+02:00"), 1000)
    assert placement.key().startswith("type=TEMP/date=2026-11-24/hour=21/")


def test_a_type_is_one_safe_path_segment():
    assert type_folder("com.example/temp=high %") == "type=com.example%2Ftemp%3Dhigh%20%25/"
    key = place(event(7, type_="a/b=c"), 100).key()
    assert key.split("/")[0] == "type=a%2Fb%3Dc"
    assert parse_key(key).type == "a/b=c"


def test_an_event_without_time_goes_under_unknown():
    key = place(event(3, time=None), 1000).key()
    assert key == "type=TEMP/date=unknown/hour=unknown/events-2-0000000000-0000000999.ndjson.gz"
    assert parse_key(key).hour is None


def test_an_event_without_coordinates_cannot_be_archived():
    plain = validate_event({"specversion": "1.0", "id": "x", "source": "/s", "type": "T"})
    failure = place(plain, 1000)
    assert isinstance(failure, Failure)
    assert (failure.id, failure.retryable) == ("x", False)
    assert "kafkaoffset" in failure.reason


def test_coordinates_sent_as_text_are_read_as_numbers():
    sent = validate_event(
        {
            "specversion": "1.0",
            "id": "x",
            "source": "/s",
            "type": "T",
            "kafkatopic": "events",
            "kafkapartition": "1",
            "kafkaoffset": "42",
        }
    )
    assert place(sent, 10) == Placement("T", None, "events", 1, 40, 49)


def test_a_batch_spanning_types_hours_and_blocks_makes_one_object_each():
    batch = [
        event(998),
        event(999, type_="HUM"),
        event(1000),
        event(1001, time="2026-11-24T14:00:00Z"),
    ]
    objects, failures = group(batch, 1000)
    assert failures == []
    keys = sorted(p.key() for p in objects)
    assert keys == [
        "type=HUM/date=2026-11-24/hour=13/events-2-0000000000-0000000999.ndjson.gz",
        "type=TEMP/date=2026-11-24/hour=13/events-2-0000000000-0000000999.ndjson.gz",
        "type=TEMP/date=2026-11-24/hour=13/events-2-0000001000-0000001999.ndjson.gz",
        "type=TEMP/date=2026-11-24/hour=14/events-2-0000001000-0000001999.ndjson.gz",
    ]


@given(
    offsets=st.lists(st.integers(0, 5000), min_size=1, max_size=60, unique=True),
    cuts=st.lists(st.integers(0, 60), max_size=6),
    block=st.sampled_from([1, 7, 100, 1000]),
)
def test_however_a_batch_is_cut_each_event_gets_the_same_object(offsets, cuts, block):
    events = [event(o, type_="AB"[o % 2], time=f"2026-01-01T{o % 24:02d}:00:00Z") for o in offsets]
    whole, _ = group(events, block)
    by_event = {e.id: p for p, members in whole.items() for e in members}
    bounds = sorted({0, len(events), *(min(c, len(events)) for c in cuts)})
    for start, end in itertools.pairwise(bounds):
        part, _ = group(events[start:end], block)
        for placement, members in part.items():
            assert all(by_event[e.id] == placement for e in members)
            offsets = [e.extensions["kafkaoffset"] for e in members]
            assert all(placement.first <= o <= placement.last for o in offsets)


def test_a_key_reads_back_as_its_placement_and_other_keys_as_none():
    placement = place(event(123456, topic="my-topic"), 1000)
    assert parse_key(placement.key("p/"), "p/") == placement
    assert parse_key("p/readme.txt", "p/") is None
    assert parse_key("type=T/date=2026-13-01/hour=00/e-1-0-9.ndjson.gz") is None


def test_days_of_a_range_are_its_utc_dates_end_excluded():
    start = datetime(2026, 11, 24, 22, tzinfo=UTC)
    assert [str(d) for d in days(start, datetime(2026, 11, 26, tzinfo=UTC))] == [
        "2026-11-24",
        "2026-11-25",
    ]
