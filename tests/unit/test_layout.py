"""The bridge and the gateway are separate processes: neither imports the other."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]


def imported_packages(package: str) -> dict[str, set[str]]:
    """Each module file of ``package`` and the top-level packages it imports."""
    found = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.add(node.module.split(".")[0])
        found[str(path.relative_to(ROOT))] = names
    return found


def test_the_bridge_imports_nothing_of_the_gateway():
    offending = [path for path, names in imported_packages("bridge").items() if "gateway" in names]
    assert offending == []


def test_the_gateway_imports_nothing_of_the_bridge():
    offending = [path for path, names in imported_packages("gateway").items() if "bridge" in names]
    assert offending == []


def test_running_the_bridge_loads_no_gateway_module():
    probe = (
        "import sys, bridge.__main__, bridge.redrive.__main__, bridge.replay.__main__\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'gateway'))\n"
    )
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_the_bridge_no_longer_lives_in_the_gateway():
    assert not (ROOT / "gateway" / "bridge").exists()
    assert not (ROOT / "gateway" / "redrive").exists()
