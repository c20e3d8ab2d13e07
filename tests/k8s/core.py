"""Built-in kinds checked against Kubernetes' own OpenAPI schemas, offline and strictly."""

from __future__ import annotations

import copy
from typing import Any

import kubernetes_validate  # type: ignore[import-untyped]

# kubectl 1.32 renders these; kubernetes-validate ships this version's schemas.
KUBERNETES_VERSION = "1.32.0"
# Knative's port for the user container when a Service names none.
KNATIVE_PORT = 8080
# RevisionSpec fields that are Knative's, not a PodSpec's.
KNATIVE_ONLY = ("containerConcurrency", "timeoutSeconds", "responseStartTimeoutSeconds")


def problems(obj: dict[str, Any]) -> list[str]:
    """What the strict schema (unknown fields fail) finds wrong, empty when nothing."""
    try:
        kubernetes_validate.validate(obj, KUBERNETES_VERSION, strict=True)
    except kubernetes_validate.ValidationError as error:
        where = "/".join(str(p) for p in error.absolute_path)
        return [f"{obj['kind']} {obj['metadata'].get('name')}: /{where}: {error.message}"]
    except kubernetes_validate.SchemaNotFoundError:
        return [f"no Kubernetes {KUBERNETES_VERSION} schema for {obj['apiVersion']} {obj['kind']}"]
    return []


def pod_of(service: dict[str, Any]) -> dict[str, Any]:
    """A Knative Service's revision template as the Pod it becomes: its spec is a
    PodSpec subset, which the CRD schema does not check field by field. Probes
    without a port get the container's, as Knative fills it in."""
    template = copy.deepcopy(service["spec"]["template"])
    spec = {k: v for k, v in template["spec"].items() if k not in KNATIVE_ONLY}
    for container in spec["containers"]:
        for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
            action = container.get(probe, {}).get("httpGet")
            if action is not None and "port" not in action:
                action["port"] = KNATIVE_PORT
    metadata = {"name": service["metadata"]["name"], **template.get("metadata", {})}
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": spec}
