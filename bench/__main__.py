"""``python -m bench [--tiny|--quick|--full] [--out DIR]``: the rows, in order.

Starts the stack in ``DIR/run`` (wiped first: a run never measures the last
one's data), writes the payload file, runs rows 1-9, prints the Markdown
table and writes ``bench-results.json`` and ``bench-results.md`` into DIR
(default ``.run/bench``). A section that fails is reported and its rows are
missing; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import functools
import json
import shutil
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from bench import alerting, ingest, invoke, kafka_limits, latency, machine, persist, pipeline
from bench.payload import describe, read_payload, write_payload
from bench.report import Report, Row
from bench.sizes import FULL, QUICK, TINY, Size
from bench.stack import Stack, stack
from infra.control import recognise_own_env
from infra.settings import ROOT, Settings

RESULTS_JSON = "bench-results.json"
RESULTS_MD = "bench-results.md"
# Rows 5-7: each module's ``run(stack, size, payload) -> list[Row]``.
OTHER_ROWS = (("5", persist), ("6", invoke), ("7", latency))


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="scripts/bench.sh", description=__doc__.split("\n")[0])
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--tiny", dest="size", action="store_const", const=TINY, help="smoke size")
    mode.add_argument(
        "--quick", dest="size", action="store_const", const=QUICK, help="about 2 minutes"
    )
    mode.add_argument(
        "--full", dest="size", action="store_const", const=FULL, help="10-13 minutes (default)"
    )
    parser.add_argument(
        "--out", type=Path, default=ROOT / ".run" / "bench", help="results folder (.run/bench)"
    )
    parser.add_argument(
        "--rows",
        default="1,2,3,4,5,6,7,8,9",
        help="which rows to run, e.g. 1,2,3 (row 3 needs 1 and 2, row 8 needs 1, row 9 needs 5); "
        "all by default",
    )
    parser.set_defaults(size=FULL)
    return parser.parse_args(argv)


def say(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    size: Size = args.size
    wanted = {part.strip() for part in args.rows.split(",") if part.strip()}
    out: Path = args.out.resolve()
    work = out / "run"
    shutil.rmtree(work, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)
    payload_file = write_payload(
        out / "events.ndjson", size.payload_events, alert_fraction=size.alert_fraction
    )
    payload = read_payload(payload_file)
    started = datetime.now(UTC).isoformat(timespec="seconds")
    clock = time.monotonic()
    rows: list[Row] = []
    errors: list[str] = []

    def section(name: str, measure: Callable[[], list[Row]]) -> None:
        began = time.monotonic()
        say(f"{name} ...")
        try:
            found = measure()
        except Exception as error:  # one broken row must not lose the others' results
            traceback.print_exc()
            errors.append(f"{name}: {type(error).__name__}: {error}")
            say(f"{name} failed after {time.monotonic() - began:.0f}s")
            return
        rows.extend(found)
        say(f"{name} done in {time.monotonic() - began:.0f}s")

    say(f"{size.name} run; stack in {work}")
    with stack(work) as running:
        say(f"stack up after {time.monotonic() - clock:.0f}s")
        embedded = recognise_own_env(Settings.from_env()).embedded_kafka
        described = {
            **machine.describe(running, embedded),
            "mode": size.name,
            "payload": describe(payload),
        }
        if wanted & {"1", "2"}:
            section(
                "rows 1-2 (Kafka limits)",
                lambda: kafka_limits.run(running, size, payload_file, payload),
            )
        if wanted & {"3", "4"}:
            section("rows 3-4 (ingest)", lambda: _ingest(running, size, payload, rows, wanted))
        for key, module in OTHER_ROWS:
            if key in wanted:
                section(
                    f"row {key} ({module.__name__})",
                    functools.partial(module.run, running, size, payload),
                )
        if "8" in wanted:
            section("row 8 (bench.pipeline)", lambda: _pipeline(running, size, payload, rows))
        if "9" in wanted:
            section("row 9 (bench.alerting)", lambda: _alerting(running, size, payload, rows))
    report = Report(
        mode=size.name,
        machine=described,
        rows=rows,
        started=started,
        seconds=time.monotonic() - clock,
        errors=errors,
    )
    write(report, out)
    print(report.markdown(), end="", flush=True)
    say(f"{size.name} run took {report.seconds:.0f}s; results in {out}")
    return 1 if errors else 0


def _alerting(running: Stack, size: Size, payload: list[bytes], rows: list[Row]) -> list[Row]:
    persist = {row.key: row.figure for row in rows}.get("5")
    if persist is None:
        raise RuntimeError("row 9 compares with the persist row: row 5 must run first")
    return alerting.run(running, size, payload, persist)


def _pipeline(running: Stack, size: Size, payload: list[bytes], rows: list[Row]) -> list[Row]:
    figures = {row.key: row.figure for row in rows}
    if "1" not in figures:
        raise RuntimeError("row 8 compares with L1: row 1 must run first")
    # The search starts from the stages measured alone, where they ran.
    alone: dict[str, float] = {key: figures[key] for key in ("3b", "5") if key in figures}
    return pipeline.run(running, size, payload, figures["1"], alone)


def _ingest(
    running: Stack, size: Size, payload: list[bytes], rows: list[Row], wanted: set[str]
) -> list[Row]:
    found = []
    if "3" in wanted:
        limits = {row.key: row.figure for row in rows}
        if "1" not in limits or "2a" not in limits:
            raise RuntimeError("row 3 compares with L1 and L2: rows 1 and 2 must run first")
        found += ingest.run_batches(running, size, payload, limits["1"], limits["2a"])
    if "4" in wanted:
        found += ingest.run_single(running, size, payload)
    return found


def write(report: Report, out: Path) -> None:
    (out / RESULTS_JSON).write_text(json.dumps(report.to_json(), indent=2, default=str) + "\n")
    (out / RESULTS_MD).write_text(report.document())


if __name__ == "__main__":
    sys.exit(main())
