"""A Knative Service for a declared function, as ``func.yaml`` and ``app.yaml`` describe it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from eventcore.schedule import ANNOTATION
from eventio.settings import ALERTMANAGER_URL, DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS
from infra.errors import InfraError

if TYPE_CHECKING:
    from gateway.registry import DeclaredApp, DeclaredFunction

# The image runs the gateway's single-function mode under Knative: it serves
# the function named by EVENTFN_FUNCTION on $PORT, at every path, with
# GET /readyz and /livez. Without this command the same image runs the fdk,
# as Fn and OCI Functions expect.
COMMAND = ("/python/bin/python", "-m", "gateway")
READY_PATH = "/readyz"
LIVE_PATH = "/livez"
CONFIG_MAP = "eventfn-config"
# CloudNativePG writes the owner's connection URI into <cluster>-app.
DATABASE_SECRET = "eventfn-db-app"  # noqa: S105 (a Secret's name)
AUTOSCALING_PREFIX = "autoscaling.knative.dev/"
# Knative's label for a Service reachable only from inside the cluster.
VISIBILITY_LABEL = "networking.knative.dev/visibility"

# app.yaml holds the laptop's addresses (127.0.0.1); in the cluster these come
# from Strimzi's bootstrap Service and the cluster's Alertmanager (via the
# ConfigMap) and CloudNativePG's secret.
CLUSTER_VALUES: Mapping[str, Mapping[str, Any]] = {
    KAFKA_BOOTSTRAP_SERVERS: {
        "configMapKeyRef": {"name": CONFIG_MAP, "key": KAFKA_BOOTSTRAP_SERVERS}
    },
    DATABASE_URL: {"secretKeyRef": {"name": DATABASE_SECRET, "key": "uri"}},
    ALERTMANAGER_URL: {"configMapKeyRef": {"name": CONFIG_MAP, "key": ALERTMANAGER_URL}},
}


class ManifestError(InfraError):
    """A func.yaml or app.yaml value that has no Kubernetes form; names the file's function."""


def knative_service(app: DeclaredApp, fn: DeclaredFunction) -> dict[str, Any]:
    """The ``serving.knative.dev/v1`` Service that runs ``fn`` in the cluster."""
    labels = {
        "app.kubernetes.io/name": fn.name,
        "app.kubernetes.io/part-of": app.name,
        "app.kubernetes.io/component": "function",
        "app.kubernetes.io/version": fn.version,
    }
    # A function without an HTTP trigger is only invoked (by the bridge or a
    # KafkaSource), so it stays off the ingress, as it has no public URL on Fn.
    if not any(trigger.type == "http" for trigger in fn.triggers):
        labels[VISIBILITY_LABEL] = "cluster-local"
    memory = f"{fn.memory}Mi"
    return {
        "apiVersion": "serving.knative.dev/v1",
        "kind": "Service",
        "metadata": {"name": fn.name, "labels": labels},
        "spec": {
            "template": {
                "metadata": {
                    "labels": {
                        "app.kubernetes.io/name": fn.name,
                        "app.kubernetes.io/part-of": app.name,
                    },
                    "annotations": autoscaling_annotations(fn),
                },
                "spec": {
                    # The fdk handles one call at a time, as on Fn.
                    "containerConcurrency": 1,
                    "timeoutSeconds": fn.timeout,
                    "containers": [
                        {
                            "name": "function",
                            "image": fn.image,
                            "command": list(COMMAND),
                            "env": environment(app, fn),
                            "resources": {
                                "requests": {"memory": memory},
                                "limits": {"memory": memory},
                            },
                            # No port: Knative probes the container's own port.
                            "readinessProbe": {"httpGet": {"path": READY_PATH}},
                            "livenessProbe": {"httpGet": {"path": LIVE_PATH}},
                        }
                    ],
                },
            }
        },
    }


def environment(app: DeclaredApp, fn: DeclaredFunction) -> list[dict[str, Any]]:
    """The container's variables: the function's name, then its Fn config (app's, then its own)."""
    env: list[dict[str, Any]] = [
        {"name": "EVENTFN_FUNCTION", "value": fn.name},
        # Knative's queue-proxy and the kubelet's probes reach it on the pod's address.
        {"name": "EVENTFN_HOST", "value": "0.0.0.0"},
    ]
    config = {**app.config, **fn.config}
    for name in sorted(config):
        if name in CLUSTER_VALUES:
            env.append({"name": name, "valueFrom": dict(CLUSTER_VALUES[name])})
        else:
            env.append({"name": name, "value": config[name]})
    return env


def autoscaling_annotations(fn: DeclaredFunction) -> dict[str, str]:
    """The ``autoscaling.knative.dev/*`` annotations of func.yaml, as Knative's string values."""
    annotations = {}
    for key in sorted(fn.annotations):
        if not key.startswith(AUTOSCALING_PREFIX):
            continue
        value = fn.annotations[key]
        if isinstance(value, bool) or not isinstance(value, str | int | float):
            raise ManifestError(
                f"function {fn.name}: annotation {key} must be a string or a number, not {value!r}"
            )
        annotations[key] = str(value)
    return annotations


def ping_source(app: DeclaredApp, fn: DeclaredFunction) -> dict[str, Any] | None:
    """The ``sources.knative.dev/v1`` PingSource that lets time pass for ``fn``
    (its ``eventfn.io/ping-schedule``), as the local gateway's pings do; None
    when it asks for none."""
    schedule = fn.annotations.get(ANNOTATION)
    if schedule is None:
        return None
    return {
        "apiVersion": "sources.knative.dev/v1",
        "kind": "PingSource",
        "metadata": {
            "name": f"{fn.name}-ping",
            "labels": {
                "app.kubernetes.io/name": fn.name,
                "app.kubernetes.io/part-of": app.name,
                "app.kubernetes.io/component": "schedule",
            },
        },
        "spec": {
            # robfig/cron's "@every <duration>", which PingSource's parser reads
            "schedule": str(schedule),
            "contentType": "application/json",
            "data": "{}",
            "sink": {
                "ref": {"apiVersion": "serving.knative.dev/v1", "kind": "Service", "name": fn.name}
            },
        },
    }
