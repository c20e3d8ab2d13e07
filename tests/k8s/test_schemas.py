"""Every object of every overlay against the schema of its kind, strictly: a misspelt field fails.

- built-in kinds: Kubernetes' OpenAPI schemas (kubernetes-validate, strict);
- Knative (Services, PingSources), Strimzi, KEDA and CloudNativePG resources:
  the validators compiled from their CRDs, plus the strict pass of
  crd_check.mjs; a Knative Service's revision template also as the Pod it becomes;
- KafkaSource and KafkaSink: the schemas in eventing.py.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest

from gateway.scaling.config import ClusterDefaults, resolve
from tests.k8s import core, crds, eventing
from tests.k8s.manifests import OVERLAYS, all_of, group, overlay


def checker(obj: dict[str, Any]) -> str:
    # KafkaSource shares PingSource's group, but no package here carries it
    if (obj["apiVersion"], obj["kind"]) in eventing.SCHEMAS:
        return "eventing"
    if group(obj) in crds.GROUPS:
        return "crd"
    return "core"


@pytest.mark.parametrize("name", OVERLAYS)
def test_built_in_kinds_match_the_kubernetes_schemas(name):
    objects = [o for o in overlay(name) if checker(o) == "core"]
    assert {o["kind"] for o in objects} >= {"Namespace", "ConfigMap"}
    found = [problem for obj in objects for problem in core.problems(obj)]
    assert found == []


@pytest.mark.parametrize("name", OVERLAYS)
def test_knative_revision_templates_are_valid_pods(name):
    services = all_of(overlay(name), "Service", "serving.knative.dev")
    assert services
    found = [problem for s in services for problem in core.problems(core.pod_of(s))]
    assert found == []


@pytest.mark.parametrize("name", OVERLAYS)
def test_custom_resources_match_their_crd_schemas(name):
    objects = [o for o in overlay(name) if checker(o) == "crd"]
    results = crds.check(objects)
    assert len(results) == len(objects)
    assert [r for r in results if r.schema is None] == []
    assert [(r.kind, r.name, r.errors) for r in results if r.errors] == []


def test_kafka_sources_and_sinks_match_their_schemas():
    objects = [o for o in overlay("eventing") if checker(o) == "eventing"]
    assert {o["kind"] for o in objects} == {"KafkaSource", "KafkaSink"}
    assert [problem for obj in objects for problem in eventing.problems(obj)] == []


# (kind, path to a mapping, a misspelt key put there): each checker must notice.
MISSPELT_CRD_FIELDS = [
    ("Service", ["spec", "template", "spec"], "containerConcurency"),
    ("Service", ["spec", "template", "spec", "containers", 0, "readinessProbe", "httpGet"], "paht"),
    ("Kafka", ["spec", "kafka", "listeners", 0], "tsl"),
    ("Kafka", ["spec", "entityOperator"], "topicOperater"),
    ("KafkaNodePool", ["spec", "storage"], "sise"),
    ("KafkaTopic", ["spec"], "partition"),
    ("ScaledObject", ["spec"], "maxReplicas"),
    ("Cluster", ["spec", "bootstrap", "initdb"], "postInitApplicationSQLRef"),
    ("PingSource", ["spec"], "schedul"),
]


def dig(obj: Any, path: list[str | int]) -> Any:
    for step in path:
        obj = obj[step]
    return obj


@pytest.mark.parametrize(("kind", "path", "key"), MISSPELT_CRD_FIELDS)
def test_a_misspelt_field_in_a_custom_resource_fails(kind, path, key):
    (obj,) = all_of(overlay("dev"), kind)[:1]
    dig(obj, path)[key] = 1
    (result,) = crds.check([obj])
    where = "/" + "/".join(str(p) for p in [*path, key])
    assert any(error.startswith(where) for error in result.errors), result.errors


def test_a_wrongly_typed_field_in_a_custom_resource_fails():
    (scaler,) = all_of(overlay("dev"), "ScaledObject")
    scaler["spec"]["maxReplicaCount"] = "six"
    (result,) = crds.check([scaler])
    assert any(error.startswith("/spec/maxReplicaCount") for error in result.errors)


def test_free_form_fields_of_a_custom_resource_are_left_alone():
    # Strimzi's kafka.config takes any broker setting, so it is not a typo
    (kafka,) = all_of(overlay("dev"), "Kafka")
    kafka["spec"]["kafka"]["config"]["log.retention.hours"] = 48
    (result,) = crds.check([kafka])
    assert result.errors == ()


def test_a_misspelt_field_in_a_built_in_kind_fails():
    (deployment,) = all_of(overlay("dev"), "StatefulSet")
    deployment["spec"]["template"]["spec"]["terminationGracePeriod"] = 30
    (problem,) = core.problems(deployment)
    assert "terminationGracePeriod" in problem


def test_a_misspelt_container_field_in_a_knative_template_fails_as_a_pod():
    (service,) = all_of(overlay("dev"), "Service")[:1]
    service["spec"]["template"]["spec"]["containers"][0]["enviroment"] = []
    (problem,) = core.problems(core.pod_of(service))
    assert "enviroment" in problem


@pytest.mark.parametrize(
    ("kind", "path", "key"),
    [
        ("KafkaSource", ["spec", "delivery"], "retries"),
        ("KafkaSource", ["spec", "sink", "ref"], "nmae"),
        ("KafkaSink", ["spec"], "contentmode"),
    ],
)
def test_a_misspelt_field_in_a_kafka_source_or_sink_fails(kind, path, key):
    (obj,) = all_of(overlay("eventing"), kind)[:1]
    dig(obj, path)[key] = 1
    assert any(key in problem for problem in eventing.problems(obj))


def test_a_kafka_source_without_a_sink_or_with_a_bad_duration_fails():
    (source,) = all_of(overlay("eventing"), "KafkaSource")[:1]
    broken = copy.deepcopy(source)
    del broken["spec"]["sink"]
    broken["spec"]["delivery"]["backoffDelay"] = "0.5s"
    found = " ".join(eventing.problems(broken))
    assert "'sink' is a required property" in found
    assert "0.5s" in found


@pytest.mark.parametrize("name", OVERLAYS)
def test_knative_autoscaling_annotations_are_ones_knative_accepts(name):
    # Knative's own rules (values, ranges, min <= max), as the local runtime applies them.
    services = all_of(overlay(name), "Service", "serving.knative.dev")
    for service in services:
        annotations = service["spec"]["template"]["metadata"]["annotations"]
        spec = resolve(annotations, ClusterDefaults())
        assert spec.metric in ("rps", "concurrency"), service["metadata"]["name"]
