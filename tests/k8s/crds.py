"""Custom resources checked with the validators compiled from their CRDs (crd_check.mjs)."""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.k8s.manifests import ROOT, SETUP

SCRIPT = Path(__file__).with_name("crd_check.mjs")
NODE_MODULES = ROOT / ".cache" / "k8s-schemas" / "node_modules"
# The API groups crd_check.mjs has validators for.
GROUPS = frozenset(
    {
        "serving.knative.dev",
        "sources.knative.dev",
        "kafka.strimzi.io",
        "keda.sh",
        "postgresql.cnpg.io",
    }
)


@dataclass(frozen=True)
class Checked:
    kind: str
    name: str | None
    schema: str | None
    errors: tuple[str, ...]


def check(objects: list[dict[str, Any]]) -> list[Checked]:
    """One result per object, in order: the CRD schema used and what it found wrong."""
    node = shutil.which("node")
    if node is None or not NODE_MODULES.is_dir():
        pytest.fail(f"node or the CRD validators in {NODE_MODULES} are missing; {SETUP}")
    result = subprocess.run(
        [node, str(SCRIPT), str(NODE_MODULES)],
        input=json.dumps(objects),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"{SCRIPT.name} failed:\n{result.stderr}")
    return [
        Checked(r["kind"], r["name"], r["schema"], tuple(r["errors"]))
        for r in json.loads(result.stdout)
    ]
