"""k8s/deploy-all.sh: --dry-run without a cluster; against a stand-in kubectl, checks and order."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from tests.k8s.manifests import K8S, ROOT, build_text

SCRIPT = K8S / "deploy-all.sh"
# What the stand-in kubectl answers: a cluster with every operator installed.
ALL_RESOURCES = [
    "namespaces",
    "configmaps",
    "secrets",
    "deployments.apps",
    "services.serving.knative.dev",
    "kafkas.kafka.strimzi.io",
    "kafkanodepools.kafka.strimzi.io",
    "kafkatopics.kafka.strimzi.io",
    "clusters.postgresql.cnpg.io",
    "scaledobjects.keda.sh",
    "kafkasources.sources.knative.dev",
    "pingsources.sources.knative.dev",
    "kafkasinks.eventing.knative.dev",
]
ALL_VERSIONS = [
    "v1",
    "apps/v1",
    "serving.knative.dev/v1",
    "kafka.strimzi.io/v1",
    "postgresql.cnpg.io/v1",
    "keda.sh/v1alpha1",
    "sources.knative.dev/v1",
    "eventing.knative.dev/v1alpha1",
]

# A kubectl that renders with the real one and otherwise only records: each
# call on a line of $STUB/calls, each applied stream in $STUB/apply-N.yaml.
STAND_IN = """#!/usr/bin/env bash
set -euo pipefail
echo "$*" >>"$STUB/calls"
case "$1" in
kustomize) exec "$REAL_KUBECTL" "$@" ;;
api-resources) cat "$STUB/resources" ;;
api-versions) cat "$STUB/versions" ;;
apply) n=$(ls "$STUB" | grep -c '^apply-' || true); cat >"$STUB/apply-$n.yaml" ;;
config) echo stand-in ;;
get) echo http://publish.event-system.example ;;
*) ;;
esac
"""


def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=env,
        cwd=ROOT,
    )


def no_cluster_env(tmp_path: Path) -> dict[str, str]:
    # a kubeconfig whose server refuses at once: nothing may need it
    config = tmp_path / "kubeconfig"
    config.write_text(
        "apiVersion: v1\nkind: Config\ncurrent-context: none\n"
        "clusters: [{name: none, cluster: {server: 'https://127.0.0.1:1'}}]\n"
        "contexts: [{name: none, context: {cluster: none}}]\n"
    )
    return {**os.environ, "KUBECONFIG": str(config)}


@pytest.mark.parametrize("overlay", ["dev", "prod", "eventing"])
def test_dry_run_prints_the_overlay_without_a_cluster(tmp_path, overlay):
    args = ["--dry-run"] if overlay == "dev" else ["--dry-run", "--overlay", overlay]
    result = run(*args, env=no_cluster_env(tmp_path))
    assert result.returncode == 0, result.stderr
    printed = [d for d in yaml.safe_load_all(result.stdout) if d]
    expected = [d for d in yaml.safe_load_all(build_text(K8S / "overlays" / overlay)) if d]
    assert printed == expected


def test_an_unknown_overlay_or_argument_is_refused_naming_the_choices(tmp_path):
    result = run("--overlay", "staging", "--dry-run", env=no_cluster_env(tmp_path))
    assert result.returncode == 2
    assert "dev eventing prod" in result.stderr
    assert run("--dryrun").returncode == 2


def test_without_a_reachable_cluster_it_says_so(tmp_path):
    result = run(env=no_cluster_env(tmp_path))
    assert result.returncode == 1
    assert "cannot reach the cluster" in result.stderr


def stand_in(tmp_path: Path, resources: list[str], versions: list[str]) -> dict[str, str]:
    real = shutil.which("kubectl")
    if real is None:
        pytest.skip("the stand-in kubectl renders with a real kubectl, and there is none")
    stub = tmp_path / "stub"
    (stub / "bin").mkdir(parents=True)
    kubectl = stub / "bin" / "kubectl"
    kubectl.write_text(STAND_IN)
    kubectl.chmod(0o755)
    (stub / "resources").write_text("\n".join(resources) + "\n")
    (stub / "versions").write_text("\n".join(versions) + "\n")
    return {
        **os.environ,
        "PATH": f"{stub / 'bin'}:{os.environ['PATH']}",
        "STUB": str(stub),
        "REAL_KUBECTL": real,
    }


def test_missing_operators_are_named_and_nothing_is_applied(tmp_path):
    resources = [r for r in ALL_RESOURCES if not r.endswith(("keda.sh", "cnpg.io"))]
    env = stand_in(tmp_path, resources, ALL_VERSIONS)
    result = run(env=env)
    assert result.returncode == 1
    assert "KEDA" in result.stderr
    assert "CloudNativePG" in result.stderr
    assert "Strimzi" not in result.stderr
    assert not list((tmp_path / "stub").glob("apply-*"))


def test_strimzi_without_the_v1_api_is_missing(tmp_path):
    # a Strimzi before 1.0 that serves v1beta2 only
    versions = [
        *(v for v in ALL_VERSIONS if v != "kafka.strimzi.io/v1"),
        "kafka.strimzi.io/v1beta2",
    ]
    result = run(env=stand_in(tmp_path, ALL_RESOURCES, versions))
    assert result.returncode == 1
    assert "Strimzi 1.2 or later" in result.stderr


def test_the_eventing_overlay_needs_the_kafka_source_but_not_keda(tmp_path):
    lacking = ("scaledobjects.keda.sh", "kafkasources.sources.knative.dev")
    resources = [r for r in ALL_RESOURCES if r not in lacking]
    result = run("--overlay", "eventing", env=stand_in(tmp_path, resources, ALL_VERSIONS))
    assert result.returncode == 1
    assert "Kafka source" in result.stderr
    assert "KEDA" not in result.stderr


def applied_kinds(stub: Path) -> list[list[str]]:
    batches = sorted(stub.glob("apply-*.yaml"), key=lambda p: int(p.stem.split("-")[1]))
    return [[d["kind"] for d in yaml.safe_load_all(p.read_text()) if d] for p in batches]


def test_it_applies_config_then_kafka_and_postgres_then_waits_then_the_rest(tmp_path):
    env = stand_in(tmp_path, ALL_RESOURCES, ALL_VERSIONS)
    result = run("--overlay", "prod", env=env)
    assert result.returncode == 0, result.stderr
    stub = tmp_path / "stub"
    first, data, rest = applied_kinds(stub)
    assert sorted(set(first)) == ["ConfigMap", "Namespace"]
    assert sorted(set(data)) == ["Cluster", "Kafka", "KafkaNodePool", "KafkaTopic"]
    assert sorted(set(rest)) == ["PingSource", "ScaledObject", "Service", "StatefulSet"]
    # everything rendered is applied, once
    rendered = [d["kind"] for d in yaml.safe_load_all(build_text(K8S / "overlays" / "prod")) if d]
    assert sorted(first + data + rest) == sorted(rendered)
    calls = (stub / "calls").read_text().splitlines()
    order = [c.split()[0] if not c.startswith("-n") else c.split()[2] for c in calls]
    waits = [c for c in calls if " wait " in f" {c} "]
    assert any("kafkas.kafka.strimzi.io" in c for c in waits)
    assert any("clusters.postgresql.cnpg.io" in c for c in waits)
    # the data services are waited for before the functions are applied
    last_apply = max(i for i, word in enumerate(order) if word == "apply")
    postgres_wait = next(i for i, c in enumerate(calls) if "clusters.postgresql.cnpg.io" in c)
    assert postgres_wait < last_apply
    assert any("rollout status statefulset/eventfn-bridge" in c for c in calls)


def test_the_scripts_are_shellcheck_clean():
    shellcheck = shutil.which("shellcheck")
    if shellcheck is None:
        pytest.skip("shellcheck is not installed (apt-get install -y shellcheck)")
    result = subprocess.run(
        [shellcheck, "-x", str(SCRIPT), str(ROOT / "scripts" / "lib" / "k8s.sh")],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stdout
