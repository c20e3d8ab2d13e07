"""The overlays as kustomize builds them, parsed, plus small finders over the objects."""

from __future__ import annotations

import functools
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
K8S = ROOT / "k8s"
OVERLAYS = ("dev", "prod", "eventing")
NAMESPACE = "event-system"
SETUP = "scripts/test.sh sets it up (eventfn_setup_k8s in scripts/lib/k8s.sh)"


def kustomize() -> list[str]:
    """kubectl's kustomize, else the standalone one set-up builds where kubectl is missing."""
    if kubectl := shutil.which("kubectl"):
        return [kubectl, "kustomize"]
    for candidate in (str(ROOT / ".cache" / "bin" / "kustomize"), shutil.which("kustomize")):
        if candidate and Path(candidate).is_file():
            return [candidate, "build"]
    pytest.fail(f"neither kubectl nor kustomize is installed; {SETUP}")


@functools.cache
def _build_text(directory: Path) -> str:
    result = subprocess.run(
        [*kustomize(), str(directory)], capture_output=True, text=True, timeout=60, check=False
    )
    if result.returncode != 0:
        pytest.fail(f"kustomize build {directory} failed:\n{result.stderr}")
    return result.stdout


def build_text(directory: Path) -> str:
    """The YAML stream kustomize renders for a kustomization directory."""
    return _build_text(directory.resolve())


def build(directory: Path) -> list[dict[str, Any]]:
    """The objects of a kustomization, freshly parsed (callers may change them)."""
    return [doc for doc in yaml.safe_load_all(build_text(directory)) if doc]


def overlay(name: str) -> list[dict[str, Any]]:
    return build(K8S / "overlays" / name)


def group(obj: dict[str, Any]) -> str:
    """The API group of an object ("" for the core group)."""
    api_version: str = obj["apiVersion"]
    return api_version.rpartition("/")[0]


def all_of(objects: list[dict[str, Any]], kind: str, api_group: str | None = None) -> list[Any]:
    return [
        o for o in objects if o["kind"] == kind and (api_group is None or group(o) == api_group)
    ]


def one(
    objects: list[dict[str, Any]], kind: str, name: str, api_group: str | None = None
) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        o for o in all_of(objects, kind, api_group) if o["metadata"]["name"] == name
    ]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def env_of(container: dict[str, Any]) -> dict[str, Any]:
    """A container's variables by name: the value, or the valueFrom mapping."""
    return {e["name"]: e.get("value", e.get("valueFrom")) for e in container.get("env", [])}
