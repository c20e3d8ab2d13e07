"""The archive stage against a real S3 HTTP endpoint (moto's server)."""

from __future__ import annotations

import uuid

import boto3
import pytest

from eventcore.archive_codec import decode
from eventcore.cloudevent import validate_event
from eventio.archiving import Archiver
from eventio.errors import DependencyError
from eventio.object_store import ObjectStore, WriteConflictError
from eventio.settings import ArchiveSettings
from infra.ports import free_port

pytestmark = pytest.mark.integration

CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}


@pytest.fixture
def store(s3_endpoint, monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    bucket = f"archive-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1").create_bucket(
        Bucket=bucket
    )
    settings = ArchiveSettings.from_env({}, archive_bucket=bucket, archive_endpoint_url=s3_endpoint)
    return ObjectStore(settings)


def event(offset, partition=0, type_="TEMP"):
    return validate_event(
        {
            "specversion": "1.0",
            "id": f"e-{partition}-{offset}",
            "source": "/tests/archive",
            "type": type_,
            "time": f"2026-11-24T{offset % 3:02d}:15:00Z",
            "data": {"value": offset},
            "kafkatopic": "events",
            "kafkapartition": partition,
            "kafkaoffset": offset,
        }
    )


def contents(store):
    found = {}
    for key, _ in store.keys(""):
        found[key] = [e["id"] for e in decode(store.get(key).body)]
    return found


def test_a_batch_redelivered_cut_differently_lands_in_the_same_objects_once(store):
    archiver = Archiver(store, "", block_size=50)
    events = [event(o, partition=o % 2, type_="AB"[o % 3 == 0]) for o in range(200)]
    first = archiver.write(events[:120])
    assert first.failures == ()
    assert first.counts["archived"] == 120
    once = contents(store)
    # the crash: the bridge sends it all again, in other cuts
    for start, end in ((0, 37), (37, 150), (150, 200)):
        archiver.write(events[start:end])
    again = contents(store)
    ids = [i for members in again.values() for i in members]
    assert sorted(ids) == sorted(e.id for e in events)
    assert set(once) <= set(again)
    redelivered = archiver.write(events[10:90])
    assert redelivered.counts == {"archived": 80, "duplicates": 80, "objects": 0}
    assert contents(store) == again


def test_events_of_one_type_with_and_without_a_time_go_to_their_own_objects(store):
    timeless = validate_event(
        {
            "specversion": "1.0",
            "id": "timeless",
            "source": "/tests/archive",
            "type": "TEMP",
            "kafkatopic": "events",
            "kafkapartition": 0,
            "kafkaoffset": 5,
        }
    )
    result = Archiver(store, "", 1000).write([event(4), timeless])
    assert result.counts == {"archived": 2, "duplicates": 0, "objects": 2}
    assert sorted(contents(store)) == [
        "type=TEMP/date=2026-11-24/hour=01/events-0-0000000000-0000000999.ndjson.gz",
        "type=TEMP/date=unknown/hour=unknown/events-0-0000000000-0000000999.ndjson.gz",
    ]


def test_events_without_coordinates_fail_alone(store):
    plain = validate_event({"specversion": "1.0", "id": "x", "source": "/s", "type": "T"})
    result = Archiver(store, "p/", 1000).write([plain, event(1)])
    assert [(f.id, f.retryable) for f in result.failures] == [("x", False)]
    assert list(contents(store)) == [
        "p/type=TEMP/date=2026-11-24/hour=01/events-0-0000000000-0000000999.ndjson.gz"
    ]


def test_a_stale_write_is_a_conflict_not_a_lost_update(store):
    store.put("k", b"one", replacing=None, content_type="text/plain")
    with pytest.raises(WriteConflictError):
        store.put("k", b"two", replacing=None, content_type="text/plain")
    etag = store.get("k").etag
    store.put("k", b"three", replacing=etag, content_type="text/plain")
    with pytest.raises(WriteConflictError):
        store.put("k", b"four", replacing=etag, content_type="text/plain")
    assert store.get("k").body == b"three"


def test_a_bucket_that_cannot_be_reached_fails_the_whole_batch(monkeypatch):
    for name, value in CREDENTIALS.items():
        monkeypatch.setenv(name, value)
    settings = ArchiveSettings.from_env(
        {},
        archive_bucket="nowhere",
        archive_endpoint_url=f"http://127.0.0.1:{free_port()}",
        archive_timeout_s=1.0,
    )
    with pytest.raises(DependencyError, match="s3://nowhere"):
        Archiver(ObjectStore(settings), "", 1000).write([event(1)])
