"""Held records, retry lanes per key, and how far each partition may be committed."""

from bridge.delivery import Record
from bridge.inflight import InFlight


def record(offset: int, key: bytes | None = None, partition: int = 0) -> Record:
    headers = [("ce_specversion", b"1.0"), ("ce_source", b"/s"), ("ce_type", b"T")]
    return Record("events", partition, offset, key, b"{}", [*headers, ("ce_id", b"%d" % offset)])


def test_commits_stop_at_the_lowest_held_offset_of_each_partition():
    inflight = InFlight()
    a = [record(10), record(11), record(12)]
    b = [record(5, partition=1), record(6, partition=1)]
    inflight.admit(a + b)
    assert inflight.commits() == {}  # nothing finished: offset 10 and 5 stay uncommitted
    inflight.finish([a[0], a[2], *b], now=0.0)
    assert inflight.commits() == {0: 11, 1: 7}
    inflight.committed({0: 11, 1: 7})
    assert inflight.commits() == {}
    inflight.finish([a[1]], now=0.0)
    assert inflight.commits() == {0: 13}


def test_a_failed_record_holds_back_later_records_of_its_key_only():
    inflight = InFlight()
    first = record(0, b"device-1")
    assert inflight.admit([first]) == [first]
    inflight.retry_at(first, at=10.0)
    later_same, other = record(1, b"device-1"), record(2, b"device-2")
    assert inflight.admit([later_same, other]) == [other]
    assert inflight.waiting == 2
    assert inflight.due(now=5.0) == []
    assert inflight.next_due() == 10.0
    assert inflight.due(now=10.0) == [first]
    inflight.finish([first], now=11.0)
    # the next of the key is due at once, and the commit passes offset 0
    assert inflight.due(now=11.0) == [later_same]
    inflight.finish([other, later_same], now=12.0)
    assert inflight.commits() == {0: 3}
    assert (len(inflight), inflight.waiting) == (0, 0)


def test_records_about_to_be_sent_are_held_back_behind_a_failed_one_of_their_key():
    inflight = InFlight()
    failed, after = record(0, b"k"), record(1, b"k")
    inflight.admit([failed, after])
    inflight.retry_at(failed, at=1.0)
    assert inflight.hold_back([after, record(2, b"x")])[0].offset == 2


def test_revoked_partitions_are_forgotten_and_their_records_no_longer_held():
    inflight = InFlight()
    mine, theirs = record(0, partition=0), record(0, b"k", partition=1)
    inflight.admit([mine, theirs])
    inflight.retry_at(theirs, at=1.0)
    assert inflight.drop([1]) == [theirs]
    assert not inflight.holds(theirs)
    assert inflight.due(now=2.0) == []
    inflight.retry_at(theirs, at=3.0)  # a late outcome for a revoked record is ignored
    assert inflight.next_due() is None
    inflight.finish([mine], now=0.0)
    assert inflight.commits() == {0: 1}
