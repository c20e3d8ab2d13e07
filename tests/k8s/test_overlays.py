"""The overlays build, and their parts agree: bridge, scaler, functions, Kafka, PostgreSQL."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from bridge.settings import BridgeSettings
from gateway.registry import load_app
from infra.k8s import cnpg, knative
from infra.kafka import KAFKA_VERSION
from infra.topics import EVENTS, EVENTS_DLQ, TOPICS
from tests.k8s.manifests import (
    K8S,
    NAMESPACE,
    OVERLAYS,
    ROOT,
    all_of,
    build,
    env_of,
    kustomize,
    one,
    overlay,
)

APP = load_app(ROOT)
PARTITIONS = {t.name: t.partitions for t in TOPICS}
# The kafka scaler's parameters (KEDA's docs, 2.13 and later): a key outside
# them is ignored by KEDA, so a misspelt one would silently change nothing.
KEDA_KAFKA_PARAMETERS = {
    "bootstrapServers",
    "consumerGroup",
    "topic",
    "lagThreshold",
    "activationLagThreshold",
    "offsetResetPolicy",
    "allowIdleConsumers",
    "excludePersistentLag",
    "scaleToZeroOnInvalidOffset",
    "limitToPartitionsWithLag",
    "partitionLimitation",
    "version",
    "sasl",
    "tls",
    "unsafeSsl",
    "ensureEvenDistributionOfPartitions",
}


def bridge_container(objects: list[dict[str, Any]]) -> dict[str, Any]:
    deployment = one(objects, "StatefulSet", "eventfn-bridge", "apps")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    return dict(container)


def bridge_settings(objects: list[dict[str, Any]]) -> BridgeSettings:
    """The settings the bridge reads from its StatefulSet's plain values."""
    env = {k: v for k, v in env_of(bridge_container(objects)).items() if isinstance(v, str)}
    return BridgeSettings.from_env(env)


def bootstrap(objects) -> str:
    """The address of the Strimzi cluster's plain listener, as Strimzi names its Service."""
    (kafka,) = all_of(objects, "Kafka", "kafka.strimzi.io")
    (plain,) = [lst for lst in kafka["spec"]["kafka"]["listeners"] if not lst["tls"]]
    return f"{kafka['metadata']['name']}-kafka-bootstrap.{NAMESPACE}.svc:{plain['port']}"


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_overlay_builds_into_event_system(name):
    objects = overlay(name)
    kinds = {o["kind"] for o in objects}
    assert {"Namespace", "Service", "Kafka", "KafkaNodePool", "KafkaTopic", "Cluster"} <= kinds
    assert one(objects, "Namespace", NAMESPACE)
    for obj in objects:
        if obj["kind"] != "Namespace":
            assert obj["metadata"]["namespace"] == NAMESPACE, obj["metadata"]["name"]


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_bridge_feeds_each_function_at_its_cluster_local_url(name):
    objects = overlay(name)
    settings = bridge_settings(objects)
    assert set(settings.targets) == {"persist", "alert"}
    for function, url in settings.targets.items():
        service = one(objects, "Service", function, "serving.knative.dev")
        assert url == f"http://{function}.{NAMESPACE}.svc.cluster.local"
        assert service["metadata"]["labels"][knative.VISIBILITY_LABEL] == "cluster-local"
    assert settings.host == "0.0.0.0"
    assert settings.events_topic == EVENTS
    assert settings.dead_letter_topic == EVENTS_DLQ


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_scaler_watches_the_bridges_groups_up_to_the_partition_count(name):
    objects = overlay(name)
    settings = bridge_settings(objects)
    scaler = one(objects, "ScaledObject", "eventfn-bridge", "keda.sh")
    spec = scaler["spec"]
    assert spec["scaleTargetRef"]["name"] == "eventfn-bridge"
    # a consumer beyond the partitions of the topic would idle
    assert spec["maxReplicaCount"] == PARTITIONS[settings.events_topic]
    assert spec["minReplicaCount"] >= 1
    groups = set()
    for trigger in spec["triggers"]:
        metadata = trigger["metadata"]
        assert trigger["type"] == "kafka"
        assert set(metadata) <= KEDA_KAFKA_PARAMETERS, set(metadata) - KEDA_KAFKA_PARAMETERS
        assert metadata["topic"] == settings.events_topic
        assert metadata["bootstrapServers"] == bootstrap(objects)
        assert metadata["limitToPartitionsWithLag"] == "true"
        assert metadata["offsetResetPolicy"] == "earliest"
        assert int(metadata["lagThreshold"]) > 0
        groups.add(metadata["consumerGroup"])
    assert groups == {settings.group_prefix + function for function in settings.targets}


@pytest.mark.parametrize("name", ["dev", "prod"])
def test_the_bridge_stops_within_its_grace_and_is_probed_on_its_health_paths(name):
    objects = overlay(name)
    settings = bridge_settings(objects)
    pod = one(objects, "StatefulSet", "eventfn-bridge", "apps")["spec"]["template"]["spec"]
    # its own grace, then up to 10 s flushing the dead-letter producer
    assert pod["terminationGracePeriodSeconds"] >= settings.shutdown_grace_s + 10
    container = bridge_container(objects)
    (port,) = container["ports"]
    assert port["containerPort"] == settings.port
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": port["name"]}
    assert container["livenessProbe"]["httpGet"] == {"path": "/livez", "port": port["name"]}
    assert settings.request_timeout_s > max(fn.timeout for fn in APP.functions)
    assert "replicas" not in one(objects, "StatefulSet", "eventfn-bridge", "apps")["spec"]


@pytest.mark.parametrize("name", OVERLAYS)
def test_every_kafka_address_is_the_strimzi_bootstrap_service(name):
    objects = overlay(name)
    config = one(objects, "ConfigMap", knative.CONFIG_MAP)
    assert config["data"]["KAFKA_BOOTSTRAP_SERVERS"] == bootstrap(objects)
    for obj in objects:
        servers = obj.get("spec", {}).get("bootstrapServers")
        if servers is not None:
            assert servers == [bootstrap(objects)], obj["metadata"]["name"]


@pytest.mark.parametrize(("name", "replicas"), [("dev", 1), ("prod", 3)])
def test_topics_are_infra_topics_on_as_many_nodes_as_there_are(name, replicas):
    objects = overlay(name)
    (kafka,) = all_of(objects, "Kafka", "kafka.strimzi.io")
    (pool,) = all_of(objects, "KafkaNodePool", "kafka.strimzi.io")
    assert pool["spec"]["replicas"] == replicas
    assert set(pool["spec"]["roles"]) == {"controller", "broker"}
    assert pool["spec"]["storage"]["type"] == "persistent-claim"
    topics = all_of(objects, "KafkaTopic", "kafka.strimzi.io")
    assert {t["spec"]["topicName"]: t["spec"]["partitions"] for t in topics} == PARTITIONS
    insync = 1 if replicas == 1 else 2
    config = kafka["spec"]["kafka"]["config"]
    assert config["default.replication.factor"] == replicas
    assert config["offsets.topic.replication.factor"] == replicas
    assert config["min.insync.replicas"] == insync
    for topic in topics:
        assert topic["metadata"]["labels"]["strimzi.io/cluster"] == kafka["metadata"]["name"]
        assert topic["spec"]["replicas"] == replicas
        assert topic["spec"].get("config", {}).get("min.insync.replicas", 1) == insync


def test_kafka_runs_the_version_eventfn_runs_locally():
    for name in OVERLAYS:
        (kafka,) = all_of(overlay(name), "Kafka", "kafka.strimzi.io")
        assert kafka["spec"]["kafka"]["version"] == KAFKA_VERSION


@pytest.mark.parametrize(("name", "instances"), [("dev", 1), ("prod", 3)])
def test_postgres_is_bootstrapped_with_the_migrations_and_named_as_the_functions_expect(
    name, instances
):
    objects = overlay(name)
    cluster = one(objects, "Cluster", "eventfn-db", "postgresql.cnpg.io")
    assert cluster["spec"]["instances"] == instances
    initdb = cluster["spec"]["bootstrap"]["initdb"]
    assert (initdb["database"], initdb["owner"]) == ("eventfn", cnpg.OWNER)
    # the functions' DATABASE_URL: the secret CloudNativePG writes for the owner
    assert f"{cluster['metadata']['name']}-app" == knative.DATABASE_SECRET
    (ref,) = initdb["postInitApplicationSQLRefs"]["configMapRefs"]
    assert (ref["name"], ref["key"]) == (cnpg.CONFIG_MAP, cnpg.KEY)
    config_map = one(objects, "ConfigMap", ref["name"])
    assert "CREATE TABLE events" in config_map["data"][ref["key"]]


@pytest.mark.parametrize(
    ("name", "registry"),
    [("dev", "dev.local/"), ("prod", "registry.example.com/"), ("eventing", "dev.local/")],
)
def test_overlays_retag_every_image_and_keep_the_versions(name, registry):
    objects = overlay(name)
    images = {
        c["image"]
        for o in objects
        if o["kind"] in ("Service", "StatefulSet") and "template" in o["spec"]
        for c in o["spec"]["template"]["spec"]["containers"]
    }
    functions = {f"{registry}{fn.image}" for fn in APP.functions}
    assert functions <= images
    assert all(image.startswith(registry) for image in images), images


def test_prod_keeps_publish_warm_and_lets_the_others_scale_to_zero():
    annotations = {
        s["metadata"]["name"]: s["spec"]["template"]["metadata"]["annotations"]
        for s in all_of(overlay("prod"), "Service", "serving.knative.dev")
    }
    assert annotations["publish"]["autoscaling.knative.dev/min-scale"] == "1"
    assert "autoscaling.knative.dev/min-scale" not in annotations["persist"]
    for service in all_of(overlay("dev"), "Service", "serving.knative.dev"):
        annotations = service["spec"]["template"]["metadata"]["annotations"]
        assert "autoscaling.knative.dev/min-scale" not in annotations


def test_the_eventing_overlay_replaces_the_bridge_with_a_kafka_source_per_function():
    bridge = bridge_settings(overlay("dev"))
    objects = overlay("eventing")
    assert not all_of(objects, "StatefulSet")
    assert not all_of(objects, "ScaledObject")
    sources = all_of(objects, "KafkaSource", "sources.knative.dev")
    sinks = {s["metadata"]["name"]: s for s in all_of(objects, "KafkaSink", "eventing.knative.dev")}
    fed = {}
    for source in sources:
        spec = source["spec"]
        assert spec["topics"] == [bridge.events_topic]
        assert spec["initialOffset"] == "earliest"
        assert spec["ordering"] == "ordered"
        ref = spec["sink"]["ref"]
        assert (ref["apiVersion"], ref["kind"]) == ("serving.knative.dev/v1", "Service")
        one(objects, "Service", ref["name"], "serving.knative.dev")
        # the bridge's group: a switch from the bridge goes on from its offsets
        assert spec["consumerGroup"] == bridge.group_prefix + ref["name"]
        dead = spec["delivery"]["deadLetterSink"]["ref"]
        assert sinks[dead["name"]]["spec"]["topic"] == bridge.dead_letter_topic
        assert spec["delivery"]["retry"] == bridge.max_attempts - 1
        fed[ref["name"]] = source["metadata"]["name"]
    assert set(fed) == set(bridge.targets)


def test_the_eventing_component_also_applies_to_prod(tmp_path: Path):
    here = os.path.relpath(K8S, tmp_path)
    (tmp_path / "kustomization.yaml").write_text(
        f"resources:\n  - {here}/overlays/prod\ncomponents:\n  - {here}/components/eventing\n"
    )
    objects = build(tmp_path)
    assert not all_of(objects, "StatefulSet")
    assert len(all_of(objects, "KafkaSource")) == 2
    assert all(o["spec"]["replicas"] == 3 for o in all_of(objects, "KafkaTopic"))


def test_a_broken_kustomization_fails_the_build(tmp_path: Path):
    (tmp_path / "kustomization.yaml").write_text("resources:\n  - missing.yaml\n")
    result = subprocess.run(
        [*kustomize(), str(tmp_path)], capture_output=True, text=True, timeout=60, check=False
    )
    assert result.returncode != 0
    assert "missing.yaml" in result.stderr
