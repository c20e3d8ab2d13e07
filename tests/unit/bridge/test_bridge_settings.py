"""The bridge's targets come from its settings; redrive shares its Kafka side."""

from __future__ import annotations

import socket

import pytest

from bridge.redrive.settings import RedriveSettings
from bridge.settings import BridgeSettings
from eventcore.cloudevent import BATCH
from eventcore.record_batch import RECORDS
from eventio.settings import SettingsError


def test_targets_are_name_url_pairs_in_order():
    settings = BridgeSettings.from_env(
        {"EVENTFN_BRIDGE_TARGETS": " persist=http://gw/invoke/A , alert=https://alert.svc/,"}
    )
    assert list(settings.targets.items()) == [
        ("persist", "http://gw/invoke/A"),
        ("alert", "https://alert.svc/"),
    ]


def test_without_targets_there_is_nothing_to_feed():
    assert dict(BridgeSettings.from_env({}).targets) == {}


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ("persist", "'persist' is not name=URL"),
        ("persist=", "'persist=' is not name=URL"),
        ("persist=gw:8080/invoke/A", "is not an http(s) URL"),
        ("a=http://x,a=http://y", "a is named twice"),
    ],
)
def test_bad_targets_name_the_variable_and_the_problem(value: str, problem: str):
    with pytest.raises(SettingsError, match="EVENTFN_BRIDGE_TARGETS=") as caught:
        BridgeSettings.from_env({"EVENTFN_BRIDGE_TARGETS": value})
    assert problem in str(caught.value)


def test_redrive_reads_what_the_bridge_writes_and_replays_what_it_reads():
    environ = {
        "KAFKA_BOOTSTRAP_SERVERS": "kafka:9092",
        "EVENTFN_EVENTS_TOPIC": "in",
        "EVENTFN_DLQ_TOPIC": "in.dlq",
        "EVENTFN_BRIDGE_GROUP_PREFIX": "team-",
    }
    bridge = BridgeSettings.from_env(environ)
    redrive = RedriveSettings.from_env(environ, timeout_s=3.0)
    assert (redrive.bootstrap_servers, redrive.dead_letter_topic, redrive.events_topic) == (
        bridge.bootstrap_servers,
        bridge.dead_letter_topic,
        bridge.events_topic,
    )
    assert (redrive.group, redrive.timeout_s) == ("team-redrive", 3.0)


def test_the_batch_format_is_records_unless_a_function_needs_json():
    assert BridgeSettings.from_env({}).batch_type == RECORDS
    chosen = BridgeSettings.from_env({"EVENTFN_BRIDGE_BATCH_FORMAT": "cloudevents"})
    assert chosen.batch_type == BATCH
    with pytest.raises(SettingsError, match="EVENTFN_BRIDGE_BATCH_FORMAT"):
        BridgeSettings.from_env({"EVENTFN_BRIDGE_BATCH_FORMAT": "xml"})


def test_each_consumer_is_a_static_member_named_by_replica_function_and_index():
    assert BridgeSettings.from_env({}).group_instance_id("persist", 0) == (
        f"{socket.gethostname()}-persist-0"
    )
    named = BridgeSettings.from_env({"EVENTFN_BRIDGE_INSTANCE_ID": "eventfn-bridge-2"})
    assert named.group_instance_id("alert", 1) == "eventfn-bridge-2-alert-1"
    dynamic = BridgeSettings.from_env({"EVENTFN_BRIDGE_STATIC_MEMBERSHIP": "false"})
    assert dynamic.group_instance_id("persist", 0) is None
