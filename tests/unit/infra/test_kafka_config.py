"""The broker's configuration and cluster id, without starting anything."""

from __future__ import annotations

import base64
from dataclasses import replace
from pathlib import Path

from infra import kafka
from infra.settings import Settings


def properties(text: str) -> dict[str, str]:
    lines = [line for line in text.splitlines() if line and not line.startswith("#")]
    return dict(line.split("=", 1) for line in lines)


def test_single_node_kraft_on_the_chosen_ports(tmp_path: Path):
    settings = replace(
        Settings.from_env({}), run_dir=tmp_path, kafka_port=19092, kafka_controller_port=19093
    )
    config = properties(kafka.server_properties(settings))
    assert config["process.roles"] == "broker,controller"
    assert config["listeners"] == "PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093"
    assert config["advertised.listeners"] == "PLAINTEXT://127.0.0.1:19092"
    assert config["controller.quorum.voters"] == "1@127.0.0.1:19093"
    assert config["log.dirs"] == str(tmp_path / "kafka" / "data")
    assert config["num.partitions"] == "6"
    assert config["auto.create.topics.enable"] == "false"
    assert config["offsets.topic.replication.factor"] == "1"
    assert config["group.initial.rebalance.delay.ms"] == "0"


def test_cluster_id_is_16_bytes_of_url_safe_base64():
    for _ in range(50):
        cluster_id = kafka.new_cluster_id()
        assert len(cluster_id) == 22
        assert not cluster_id.startswith("-")
        assert len(base64.urlsafe_b64decode(cluster_id + "==")) == 16


def test_pom_pins_the_same_kafka_version():
    assert f"<kafka.version>{kafka.KAFKA_VERSION}</kafka.version>" in kafka.POM.read_text()
