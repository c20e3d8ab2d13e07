import pytest

from eventcore.cloudevent import validate_event
from eventcore.errors import InvalidEventError

EVENT = {"specversion": "1.0", "id": "e-1", "source": "/s", "type": "T"}


def problems(attributes, prefix=""):
    with pytest.raises(InvalidEventError) as caught:
        validate_event(attributes, prefix)
    return [str(p) for p in caught.value.problems]


def test_every_attribute_problem_is_named_in_the_order_of_the_attributes():
    assert problems({"specversion": "0.3", "id": None, "type": "", "time": "noon"}, "[2]") == [
        "[2].specversion: must be '1.0'",
        "[2].id: Input should be a valid string",
        "[2].source: Field required",
        "[2].type: String should have at least 1 character",
        "[2].time: must be an RFC 3339 timestamp, e.g. 2024-05-01T12:00:00Z",
    ]


@pytest.mark.parametrize(
    ("attributes", "expected"),
    [
        ({"id": "é" * 129}, "id: must be at most 256 bytes in UTF-8"),
        ({"subject": "a\x00"}, "subject: must not contain NUL (\\u0000) characters"),
        ({"datacontenttype": 7}, "datacontenttype: Input should be a valid string"),
        ({"data_base64": "not base64"}, "data_base64: must be base64"),
        ({"flag": 1.5}, "flag: extensions must be strings, integers or booleans"),
    ],
)
def test_a_bad_attribute_is_named(attributes, expected):
    assert problems({**EVENT, **attributes}) == [expected]


def test_absent_and_null_optional_attributes_are_the_same():
    assert validate_event({**EVENT, "subject": None, "time": None}) == validate_event(EVENT)


def test_extensions_are_a_copy_the_caller_may_change():
    event = validate_event({**EVENT, "region": "eu", "n": 3, "flag": False})
    event.extensions.pop("region")
    assert event.extensions == {"region": "eu", "n": 3, "flag": False}
    assert event.structured() == {**EVENT, "region": "eu", "n": 3, "flag": False}


def test_an_event_is_immutable_and_replace_makes_a_changed_copy():
    event = validate_event(EVENT)
    with pytest.raises(AttributeError):
        event.source = "/other"  # type: ignore[misc]
    assert event._replace(source="/other").source == "/other"
    assert event.source == "/s"
