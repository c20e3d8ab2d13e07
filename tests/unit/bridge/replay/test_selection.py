"""Which archived events a replay takes, and the record it makes of each."""

from datetime import UTC, datetime

import pytest

from bridge.replay.selection import (
    Selection,
    date_folders,
    events_of,
    replay_order,
    replay_record,
    type_of_folder,
)
from eventcore.archive_layout import Placement
from eventcore.cloudevent import validate_event
from eventcore.kafka_binding import from_record, to_record

START = datetime(2026, 11, 24, 10, 30, tzinfo=UTC)
END = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


def event(time="2026-11-24T11:00:00Z", type_="TEMP", **extra):
    attributes = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": type_}
    return validate_event({**attributes, "time": time, **extra})


def placement(hour, type_="TEMP"):
    moment = None if hour is None else datetime(2026, 11, 24, hour, tzinfo=UTC)
    return Placement(type_, moment, "events", 0, 0, 999)


@pytest.mark.parametrize(
    ("hour", "wanted"), [(9, False), (10, True), (11, True), (12, False), (None, False)]
)
def test_an_object_is_read_when_its_hour_meets_the_range(hour, wanted):
    assert Selection(START, END).wants_object(placement(hour)) is wanted


@pytest.mark.parametrize(
    ("time", "wanted"),
    [
        ("2026-11-24T10:29:59.999Z", False),
        ("2026-11-24T10:30:00Z", True),
        ("2026-11-24T13:59:59+02:00", True),
        ("2026-11-24T12:00:00Z", False),
    ],
)
def test_an_event_is_replayed_when_its_own_time_is_in_the_half_open_range(time, wanted):
    assert Selection(START, END).wants(event(time)) is wanted


def test_the_type_is_a_shell_pattern_matched_case_sensitively():
    selection = Selection(START, END, "com.example.*")
    assert selection.wants(event(type_="com.example.temp"))
    assert not selection.wants(event(type_="COM.EXAMPLE.temp"))
    assert not selection.wants_object(placement(11, "TEMP"))
    assert selection.wants_object(placement(11, "com.example.x"))


def test_folders_name_their_type_and_the_range_its_days():
    assert type_of_folder("p/type=a%2Fb/", "p/") == "a/b"
    assert type_of_folder("p/other/", "p/") is None
    wide = Selection(START, datetime(2026, 11, 26, tzinfo=UTC))
    assert date_folders("type=T/", wide) == ["type=T/date=2026-11-24/", "type=T/date=2026-11-25/"]


def test_a_replayed_record_is_the_one_publish_made_without_the_archive_coordinates():
    original = event(subject="sensor-1", data={"value": 1}, partitionkey="k", region="eu")
    published = to_record(original)
    read = from_record("events", 3, 77, *published, timestamp_ms=None)
    archived = validate_event(read)
    assert archived.extensions["kafkaoffset"] == 77
    assert replay_record(archived) == published
    assert replay_order(archived) == ("events", 3, 77)


def test_lines_that_are_no_event_are_counted_not_replayed():
    events, invalid = events_of([event().structured(), {"id": "no type"}])
    assert [e.id for e in events] == ["e-1"]
    assert invalid == 1
