"""scripts/bench.sh works: every row of the issue measured beside its limit, in the tiny size.

The benchmark is not a test: this asserts the result's shape, never a speed.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from tests.support import ROOT

pytestmark = pytest.mark.integration

ROWS = ("1", "2", "3", "4", "5", "6", "7", "8", "9")
# Stack start (Kafka, PostgreSQL, gateway) plus well under 90 s of measuring.
TIMEOUT_S = 420


@pytest.mark.timeout(TIMEOUT_S + 30)
def test_tiny_run_has_every_row_beside_its_limit(tmp_path):
    out = tmp_path / "bench"
    result = subprocess.run(
        [str(ROOT / "scripts" / "bench.sh"), "--tiny", "--out", str(out)],
        env=dict(os.environ),
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    assert result.returncode == 0, f"{result.stdout}\n{result.stderr[-5000:]}"

    document = json.loads((out / "bench-results.json").read_text())
    assert document["mode"] == "tiny"
    assert document["errors"] == []
    for field in ("cpu", "cores", "memory_gib", "os", "python", "kafka", "postgresql"):
        assert document["machine"][field], field
    rows = document["rows"]
    for number in ROWS:
        mine = [row for row in rows if row["key"].startswith(number)]
        assert mine, f"no row {number}"
        for row in mine:
            assert row["figure"] > 0, row
            assert row["limit"] > 0, row
            assert isinstance(row["ratio"], float), row
            assert row["ratio"] > 0, row
            assert row["settings"], row

    table = result.stdout
    assert "| # | measurement | figure | limit | ratio | target |" in table
    for row in rows:
        assert f"| {row['key']} | {row['name']} |" in table
    assert (out / "bench-results.md").read_text().count("|") > len(rows)
