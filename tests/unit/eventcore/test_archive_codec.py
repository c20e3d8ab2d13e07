"""An archive object: gzipped JSON lines, one per Kafka offset, merged without duplicates."""

import gzip

import orjson
import pytest

from eventcore.archive_codec import ArchiveObjectError, decode, encode, merge
from eventcore.cloudevent import validate_event


def event(offset, data=None):
    return validate_event(
        {
            "specversion": "1.0",
            "id": f"e-{offset}",
            "source": "/s",
            "type": "TEMP",
            "time": "2026-11-24T13:00:00Z",
            "data": data if data is not None else {"value": offset},
            "kafkatopic": "events",
            "kafkapartition": 0,
            "kafkaoffset": offset,
        }
    )


def test_an_object_is_structured_cloudevents_one_a_line_gzipped():
    body, added, total = merge(None, [event(2), event(1)])
    assert (added, total) == (2, 2)
    lines = gzip.decompress(body).splitlines()
    assert [orjson.loads(line)["id"] for line in lines] == ["e-1", "e-2"]
    assert orjson.loads(lines[0]) == {
        "specversion": "1.0",
        "id": "e-1",
        "source": "/s",
        "type": "TEMP",
        "time": "2026-11-24T13:00:00Z",
        "data": {"value": 1},
        "kafkatopic": "events",
        "kafkapartition": 0,
        "kafkaoffset": 1,
    }


def test_the_same_events_make_the_same_bytes():
    assert merge(None, [event(1), event(2)]).body == merge(None, [event(2), event(1)]).body


def test_merging_adds_only_offsets_not_there_and_keeps_offset_order():
    first = merge(None, [event(5), event(3)]).body
    body, added, total = merge(first, [event(4), event(5), event(6)])
    assert (added, total) == (2, 4)
    assert [e["kafkaoffset"] for e in decode(body)] == [3, 4, 5, 6]


def test_a_redelivery_of_what_is_there_changes_nothing():
    body = merge(None, [event(1), event(2)]).body
    assert merge(body, [event(2), event(1)]) == (None, 0, 2)


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        (b"plain text", "not gzip"),
        (encode([b'{"a": 1']), "line 1 is not JSON"),
        (encode([b"[1]"]), "line 1 is not a JSON object"),
    ],
)
def test_bytes_that_are_no_archive_object_say_why(body, problem):
    with pytest.raises(ArchiveObjectError, match=problem):
        decode(body)


def test_a_line_without_an_offset_cannot_be_merged_into():
    with pytest.raises(ArchiveObjectError, match="kafkaoffset"):
        merge(encode([b'{"id": "x"}']), [event(1)])
