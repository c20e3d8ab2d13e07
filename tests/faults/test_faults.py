"""The fault runs in their reduced size, for CI (the full size: scripts/faults.sh).

Each test runs ``python -m tests.faults`` in a child process, with a stack of
its own in its own run directory, and afterwards runs ``stop-all.sh`` on that
directory whatever happened to the child (librdkafka can abort a process
whose broker dies under it), then checks that no process of the run is left.
Run directories live in /tmp/eventfn-faults-<test>-*, outside pytest's
rotating temp folders: a failing test keeps its run directory (logs,
``history.jsonl``, ``offsets.jsonl``, ``result.json``) and prints its path; a
passing one removes it.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest

from infra import processes
from infra.settings import RUN_DIR
from tests.faults.stack import ROOT

pytestmark = pytest.mark.faults

EVENTS = 2000
KILLS = "bridge,function,gateway,kafka,postgres"


def fault_run(name: str, *args: str, timeout_s: float = 480) -> dict[str, Any]:
    """One run of ``python -m tests.faults``; its result.json once nothing of it is left."""
    run_dir = Path(tempfile.mkdtemp(prefix=f"eventfn-faults-{name}-"))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("EVENTFN_", "FN_"))}
    env["PYTHONPATH"] = f"{ROOT}:{ROOT / 'functions'}"
    argv = [sys.executable, "-m", "tests.faults", "--run-dir", str(run_dir), *args]
    try:
        done = subprocess.run(
            argv, env=env, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s, check=False
        )
    finally:
        subprocess.run(
            [str(ROOT / "scripts" / "stop-all.sh")],
            env={**env, RUN_DIR: str(run_dir)},
            capture_output=True,
            timeout=200,
            check=False,
        )
    left = leftovers(run_dir)
    output = f"{done.stdout}\n{done.stderr}\nrun directory kept: {run_dir}"
    assert not left, f"processes of the run left behind: {left}\n{output}"
    assert done.returncode == 0, output
    result: dict[str, Any] = orjson.loads((run_dir / "result.json").read_bytes())
    print(result["summary"])
    shutil.rmtree(run_dir, ignore_errors=True)
    return result


def leftovers(run_dir: Path) -> list[str]:
    """Processes that carry the run directory in their environment or command line."""
    found = []
    for pid in processes.all_pids():
        argv = processes.cmdline_of(pid)
        info = processes.proc_info(pid)
        if info is None or info.zombie or pid == os.getpid():
            continue
        mentioned = any(str(run_dir) in part for part in argv)
        if mentioned or processes.environ_of(pid).get(RUN_DIR) == str(run_dir):
            found.append(f"{pid}: {' '.join(argv)}")
    return found


@pytest.mark.timeout(540)
def test_killing_each_component_loses_and_doubles_no_acknowledged_event():
    result = fault_run(
        "kills", "--events", str(EVENTS), "--faults", KILLS, "--seed", "11", "--rate", "50"
    )
    counts = result["counts"]
    assert counts["acked"] == EVENTS
    assert counts["rows"] == counts["distinct_rows"] == EVENTS
    assert (counts["lost"], counts["duplicated"], counts["phantom"]) == (0, 0, 0)
    assert counts["dead_letters"] == 0
    assert [f["fault"] for f in result["faults"]] == KILLS.split(",")
    assert all(f["recovery_s"] is not None for f in result["faults"])


@pytest.mark.timeout(540)
def test_a_bridge_paused_past_its_session_commits_no_stale_offset():
    result = fault_run(
        "pause",
        *("--events", str(EVENTS), "--faults", "", "--pause", "--seed", "12", "--rate", "50"),
    )
    counts = result["counts"]
    assert counts["offset_samples"] > 100
    assert counts["offset_regressions"] == 0
    assert (counts["lost"], counts["duplicated"], counts["rows"]) == (0, 0, EVENTS)
    (pause,) = result["faults"]
    assert pause["recovery_s"] is not None
    assert "evicted" in pause["note"]


@pytest.mark.timeout(540)
def test_poison_is_dead_lettered_and_good_events_keep_flowing():
    result = fault_run(
        "poison",
        *("--events", str(EVENTS), "--faults", "", "--poison", "--seed", "13", "--rate", "200"),
    )
    counts = result["counts"]
    assert counts["poison"] >= EVENTS // 100 + EVENTS // 1000
    assert counts["poison_not_dead_lettered"] == 0
    assert counts["good_dead_lettered"] == 0
    assert counts["rows"] + counts["persist_dead_letters"] == counts["sent"]
    assert counts["dead_lettered_twice"] == 0  # nothing was killed
    assert result["flow"]["good_after_first_poison"] > EVENTS // 2
    assert result["flow"]["delay_max_s"] < 12.5
