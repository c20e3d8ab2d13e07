import uuid

from eventcore.ids import uuid7
from gateway.ids import new_id, stable_id


def test_uuid7_has_version_variant_and_time_order():
    first = uuid.UUID(uuid7(now_ns=1_700_000_000_000_000_000, rand=b"\xff" * 10))
    later = uuid.UUID(uuid7(now_ns=1_700_000_000_001_000_000, rand=b"\x00" * 10))
    assert first.version == 7
    assert first.variant == uuid.RFC_4122
    assert str(first) < str(later)
    assert first.int >> 80 == 1_700_000_000_000


def test_fn_ids_are_26_crockford_characters():
    for value in (new_id(), stable_id("fn", "eventfn", "publish")):
        assert len(value) == 26
        assert set(value) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_stable_ids_depend_only_on_names():
    assert stable_id("fn", "eventfn", "publish") == stable_id("fn", "eventfn", "publish")
    assert stable_id("fn", "eventfn", "publish") != stable_id("fn", "eventfn", "persist")
