import uuid

from eventcore.ids import uuid7


def test_uuid7_has_version_variant_and_time_order():
    first = uuid.UUID(uuid7(now_ns=1_700_000_000_000_000_000, rand=b"\xff" * 10))
    later = uuid.UUID(uuid7(now_ns=1_700_000_000_001_000_000, rand=b"\x00" * 10))
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert str(first) < str(later)
    assert first.int >> 80 == 1_700_000_000_000


def test_uuid7_is_spelled_as_uuid_spells_it():
    for rand in (b"\x00" * 10, b"\xff" * 10, bytes(range(10))):
        text = uuid7(now_ns=1_700_000_000_123_000_000, rand=rand)
        assert text == str(uuid.UUID(text))


def test_uuid7s_are_distinct_across_many_draws():
    ids = [uuid7() for _ in range(5_000)]
    assert len(set(ids)) == len(ids)
    assert all(uuid.UUID(i).version == 7 for i in ids)


def test_a_forked_child_draws_its_own_random_bits():
    import os

    uuid7()  # the parent now holds drawn tails
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(write, uuid7().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    assert child[15:] != uuid7()[15:]
