"""The core and the bridge's decisions do no I/O: the style's first rule."""

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).parents[2]
# The whole core, and the decisions of the other packages.
PURE = {
    **{
        f"eventcore.{path.stem}": str(path.relative_to(ROOT))
        for path in sorted((ROOT / "functions" / "eventcore").glob("[!_]*.py"))
    },
    "bridge.delivery": "bridge/delivery.py",
    "bridge.deadletter": "bridge/deadletter.py",
    "bridge.inflight": "bridge/inflight.py",
    "bridge.rounds": "bridge/rounds.py",
    "bridge.redrive.selection": "bridge/redrive/selection.py",
    "bridge.replay.selection": "bridge/replay/selection.py",
    "gateway.catalog.models": "gateway/catalog/models.py",
    "gateway.oci.shapes": "gateway/oci/shapes.py",
    "gateway.oci.signing": "gateway/oci/signing.py",
    "gateway.scaling.config": "gateway/scaling/config.py",
    "gateway.scaling.windows": "gateway/scaling/windows.py",
    "gateway.scaling.kpa": "gateway/scaling/kpa.py",
}
IO_LIBRARIES = ["fdk", "confluent_kafka", "kafka", "psycopg", "httpx", "starlette", "uvicorn"]
IO_STDLIB = {"socket", "asyncio", "http", "urllib.request", "subprocess", "selectors", "ssl"}


def test_pure_modules_load_no_io_library():
    probe = (
        "import sys\n"
        f"for name in {sorted(PURE)!r}: __import__(name)\n"
        f"print(sorted(m for m in {IO_LIBRARIES!r} if m in sys.modules))\n"
    )
    env = {"PYTHONPATH": f"{ROOT}:{ROOT / 'functions'}", "PATH": "/usr/bin:/bin"}
    out = subprocess.run(
        [sys.executable, "-c", probe], env=env, capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"


def test_pure_modules_import_no_io_module_themselves():
    for path in PURE.values():
        tree = ast.parse((ROOT / path).read_text())
        imported = {
            alias.name
            for node in ast.walk(tree)
            if isinstance(node, ast.Import)
            for alias in node.names
        } | {
            node.module
            for node in ast.walk(tree)
            if isinstance(node, ast.ImportFrom) and node.module
        }
        assert not {
            name for name in imported if name in IO_STDLIB or name.split(".")[0] in IO_STDLIB
        }, path
