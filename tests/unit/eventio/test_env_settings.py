"""The one settings reader: precedence, empty values, parsing, errors, secrets."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from eventio.settings import EnvSettings, FunctionSettings, SettingsError, env


def _pair(text: str) -> tuple[str, str]:
    left, _, right = text.partition("+")
    if not right:
        raise ValueError("must be left+right")
    return left, right


@dataclass(frozen=True)
class Example(EnvSettings):
    count: int = env("EXAMPLE_COUNT", 3)
    ratio: float = env("EXAMPLE_RATIO", 0.5)
    where: Path | None = env("EXAMPLE_WHERE", None)
    pair: tuple[str, str] = env("EXAMPLE_PAIR", ("a", "b"), parse=_pair)
    token: str = env("EXAMPLE_TOKEN", "", secret=True)
    fixed: str = "not from the environment"


def test_explicit_beats_environment_beats_default():
    environ = {"EXAMPLE_COUNT": "7", "EXAMPLE_RATIO": "0.25"}
    settings = Example.from_env(environ, ratio=0.75)
    assert (settings.count, settings.ratio, settings.where) == (7, 0.75, None)
    assert Example.from_env({}) == Example()


def test_values_are_parsed_by_the_field_type_and_parse_hook():
    settings = Example.from_env({"EXAMPLE_WHERE": "/tmp/x", "EXAMPLE_PAIR": "l+r"})
    assert settings.where == Path("/tmp/x")
    assert settings.pair == ("l", "r")


def test_an_empty_or_blank_variable_counts_as_unset():
    assert Example.from_env({"EXAMPLE_COUNT": "", "EXAMPLE_RATIO": "  "}) == Example()


def test_a_field_without_a_variable_is_never_read():
    assert Example.from_env({"fixed": "x", "FIXED": "x"}).fixed == "not from the environment"


@pytest.mark.parametrize(
    ("name", "value"),
    [("EXAMPLE_COUNT", "three"), ("EXAMPLE_RATIO", "half"), ("EXAMPLE_PAIR", "nothing")],
)
def test_a_bad_value_names_the_variable_and_the_value(name: str, value: str):
    with pytest.raises(SettingsError) as caught:
        Example.from_env({name: value})
    assert str(caught.value).startswith(f"{name}={value!r}: ")


def test_secrets_stay_out_of_the_repr():
    assert "hunter2" not in repr(Example.from_env({"EXAMPLE_TOKEN": "hunter2"}))
    url = "postgresql://eventfn:s3cret@db/eventfn"
    assert "s3cret" not in repr(FunctionSettings.from_env({"DATABASE_URL": url}))


def test_functions_share_the_kafka_and_topic_names():
    settings = FunctionSettings.from_env(
        {"KAFKA_BOOTSTRAP_SERVERS": "kafka:9092", "EVENTFN_EVENTS_TOPIC": "in"}
    )
    assert (settings.bootstrap_servers, settings.events_topic) == ("kafka:9092", "in")
    assert (settings.alerts_topic, settings.dead_letter_topic) == ("alerts", "events.dlq")
