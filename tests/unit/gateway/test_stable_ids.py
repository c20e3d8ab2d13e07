from gateway.ids import new_id, stable_id


def test_fn_ids_are_26_crockford_characters():
    for value in (new_id(), stable_id("fn", "eventfn", "publish")):
        assert len(value) == 26
        assert set(value) <= set("0123456789ABCDEFGHJKMNPQRSTVWXYZ")


def test_stable_ids_depend_only_on_names():
    assert stable_id("fn", "eventfn", "publish") == stable_id("fn", "eventfn", "publish")
    assert stable_id("fn", "eventfn", "publish") != stable_id("fn", "eventfn", "persist")
