import pytest

from eventcore.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("0s", 0),
        ("500ms", 0.5),
        ("10s", 10),
        ("1m30s", 90),
        ("5m", 300),
        ("2h", 7200),
        ("1d", 86400),
    ],
)
def test_prometheus_durations_read_and_write_back(text, seconds):
    assert parse_duration(text) == seconds
    assert format_duration(seconds) == text


@pytest.mark.parametrize("text", ["", "10", "m", "1x", "1s1m", "-1s", "1.5s", "99999w"])
def test_anything_else_is_refused_saying_the_form(text):
    with pytest.raises(ValueError, match=r"duration such as|longer than ten years"):
        parse_duration(text)
