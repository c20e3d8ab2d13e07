"""The PostgreSQL stores isolate what PostgreSQL refuses, whatever got past validation."""

from __future__ import annotations

import random

import pytest

from eventcore.cloudevent import CloudEvent, validate_event
from eventio.database import Database, EventStore

pytestmark = pytest.mark.integration


def event(event_id: str, source: str = "/stores") -> CloudEvent:
    return validate_event(
        {"specversion": "1.0", "id": event_id, "source": "/stores", "type": "T", "data": {"n": 1}}
    )._replace(source=source)


def test_an_event_too_big_for_the_index_fails_alone(db, database_url):
    store = EventStore(Database(database_url, "tests"))
    # random CJK text: 6 kB that no compression fits into a 2.7 kB index entry
    rng = random.Random(1)
    huge = "/" + "".join(chr(rng.randint(0x4E00, 0x9FFF)) for _ in range(2000))
    batch = [event("a"), event("huge", source=huge), event("b")]
    inserted, refused = store.write(batch)
    assert inserted == 2
    assert [(f.id, f.retryable) for f in refused] == [("huge", False)]
    assert refused[0].reason.startswith("PostgreSQL refused it")
    assert {r[0] for r in db.execute("select id from events")} == {"a", "b"}
    # the connection is still good for the next batch
    assert store.write([event("c")]) == (1, [])


def test_a_batch_with_events_already_stored_adds_only_the_new_ones(db, database_url):
    store = EventStore(Database(database_url, "tests"))
    assert store.write([event("a"), event("b")]) == (2, [])
    # a redelivery, with one new event; then one event twice in a batch
    assert store.write([event("a"), event("b"), event("c")]) == (1, [])
    assert store.write([event("d"), event("d")]) == (1, [])
    assert store.write([event("e")]) == (1, [])
    rows = db.execute("select id from events order by seq").fetchall()
    assert [row[0] for row in rows] == ["a", "b", "c", "d", "e"]


def test_data_too_deep_to_encode_fails_alone(db, database_url):
    store = EventStore(Database(database_url, "tests"))
    deep: object = 1
    for _ in range(300):
        deep = [deep]
    too_deep = validate_event(
        {"specversion": "1.0", "id": "deep", "source": "/stores", "type": "T", "data": deep}
    )
    inserted, refused = store.write([event("a"), too_deep, event("b")])
    assert inserted == 2
    assert [(f.id, f.retryable) for f in refused] == [("deep", False)]
    assert refused[0].reason.startswith("cannot be stored")
