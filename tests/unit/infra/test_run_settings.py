"""Settings: defaults, environment, explicit overrides, bad values, masked secrets."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from eventio.settings import SettingsError, mask_url
from infra import postgres
from infra.control import recognise_own_env
from infra.settings import ROOT, Settings


def test_defaults_are_the_documented_ones():
    settings = Settings.from_env({})
    assert settings.run_dir == ROOT / ".run"
    assert (settings.kafka_port, settings.kafka_controller_port) == (9092, 9095)
    assert settings.alertmanager_port == 9093
    assert (settings.pg_port, settings.gateway_port, settings.bridge_port) == (54320, 8080, 8081)
    assert settings.embedded_kafka
    assert settings.embedded_postgres
    assert settings.bootstrap_servers == "127.0.0.1:9092"
    assert settings.gateway_url == "http://127.0.0.1:8080"
    assert settings.gateway_cmd is None


def test_environment_then_explicit_argument_win(tmp_path: Path):
    env = {
        "EVENTFN_RUN_DIR": str(tmp_path),
        "EVENTFN_KAFKA_PORT": "19092",
        "PORT": "18080",
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "DATABASE_URL": "postgresql://u:pw@db/x",
        "EVENTFN_GATEWAY_CMD": "python -m thing --flag 'two words'",
    }
    settings = Settings.from_env(env)
    assert settings.run_dir == tmp_path
    assert settings.kafka_port == 19092
    assert settings.gateway_url == "http://127.0.0.1:18080"
    assert settings.bootstrap_servers == "kafka:9092"
    assert not settings.embedded_kafka
    assert not settings.embedded_postgres
    assert settings.gateway_cmd == ("python", "-m", "thing", "--flag", "two words")
    assert replace(settings, gateway_port=1).gateway_port == 1


@pytest.mark.parametrize("value", ["eighty", "0", "70000"])
def test_bad_port_names_the_variable(value: str):
    with pytest.raises(SettingsError, match="EVENTFN_PG_PORT"):
        Settings.from_env({"EVENTFN_PG_PORT": value})


def test_password_never_shows_in_repr_or_masked_url():
    settings = Settings.from_env({"DATABASE_URL": "postgresql://eventfn:s3cret@db:5432/eventfn"})
    assert "s3cret" not in repr(settings)
    assert mask_url("postgresql://eventfn:s3cret@db:5432/x") == "postgresql://eventfn:***@db:5432/x"
    assert "s3cret" not in mask_url("host=db password=s3cret dbname=x")
    assert mask_url("postgresql://db/x") == "postgresql://db/x"


def test_values_sourced_from_the_runs_own_env_file_mean_embedded(tmp_path: Path):
    own = Settings.from_env({"EVENTFN_RUN_DIR": str(tmp_path)})
    (tmp_path / "kafka").mkdir()
    (tmp_path / "kafka" / "cluster.id").write_text("x\n")
    own_url = postgres.database_url(own)  # creates this run's password
    sourced = Settings.from_env(
        {
            "EVENTFN_RUN_DIR": str(tmp_path),
            "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
            "DATABASE_URL": own_url,
        }
    )
    assert not sourced.embedded_kafka

    recognised = recognise_own_env(sourced)

    assert recognised.embedded_kafka
    assert recognised.embedded_postgres
    elsewhere = replace(
        sourced, external_kafka="kafka:9092", external_database_url="postgresql://x/y"
    )
    assert recognise_own_env(elsewhere) == elsewhere


def test_the_bridge_feeds_archive_only_when_a_bucket_is_configured():
    assert Settings.from_env({}).bridge_functions == ("persist", "alert")
    with_bucket = Settings.from_env({"EVENTFN_ARCHIVE_BUCKET": "events-archive"})
    assert with_bucket.bridge_functions == ("persist", "alert", "archive")
    chosen = {"EVENTFN_ARCHIVE_BUCKET": "events-archive", "EVENTFN_BRIDGE_FUNCTIONS": "persist"}
    assert Settings.from_env(chosen).bridge_functions == ("persist",)


def test_with_a_bucket_the_bridge_component_has_an_archive_target():
    from bridge.settings import TARGETS, parse_targets
    from infra.components import bridge_component

    settings = Settings.from_env({"EVENTFN_ARCHIVE_BUCKET": "events-archive"})
    targets = parse_targets(bridge_component(settings, "postgresql://x@y/z").env[TARGETS])
    assert list(targets) == ["persist", "alert", "archive"]
    assert targets["archive"].startswith(f"{settings.gateway_url}/invoke/")
    plain = bridge_component(Settings.from_env({}), "postgresql://x@y/z")
    assert list(parse_targets(plain.env[TARGETS])) == ["persist", "alert"]
