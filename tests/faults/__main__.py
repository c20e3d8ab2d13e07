"""``python -m tests.faults``: one fault run; prints the verdict, exits 1 on any violation.

    python -m tests.faults --events 20000 --faults bridge,function,gateway,kafka,postgres \\
        --seed 7 [--pause] [--poison]

``--faults ''`` injects no kill. The caller's ``EVENTFN_*`` variables reach the
gateway and the bridge; ``EVENTFN_BRIDGE_SESSION_TIMEOUT_MS`` is the bridge's
default (45 s), or 6000 (the broker's minimum) with ``--pause``, unless the
caller sets it or ``--session-timeout-ms`` says otherwise (0: the bridge's
default).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from tests.faults.nemesis import FAULTS
from tests.faults.run import RunConfig, run


def parse(argv: list[str]) -> RunConfig:
    parser = argparse.ArgumentParser(prog="python -m tests.faults", description=__doc__)
    parser.add_argument("--events", type=int, default=20_000, help="events to publish (20000)")
    parser.add_argument(
        "--faults",
        default=",".join(FAULTS),
        help=f"comma-separated kills, in order (default {','.join(FAULTS)}; '' for none)",
    )
    parser.add_argument("--cycles", type=int, default=1, help="times the list of kills repeats")
    parser.add_argument("--seed", type=int, default=None, help="the RNG seed (default: the time)")
    parser.add_argument("--pause", action="store_true", help="SIGSTOP the bridge past its session")
    parser.add_argument("--poison", action="store_true", help="1%% malformed, 0.1%% rejected")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s published (200)")
    parser.add_argument("--threads", type=int, default=4, help="publishing threads (4)")
    parser.add_argument("--settle", type=float, default=5.0, help="seconds of quiet to wait for")
    parser.add_argument(
        "--session-timeout-ms",
        type=int,
        default=None,
        help="the bridge's session (default: its own, 6000 with --pause)",
    )
    parser.add_argument("--run-dir", type=Path, default=None, help="default: a new /tmp folder")
    args = parser.parse_args(argv)
    faults = tuple(f.strip() for f in args.faults.split(",") if f.strip()) * args.cycles
    return RunConfig(
        events=args.events,
        faults=faults,
        seed=int(time.time()) if args.seed is None else args.seed,
        pause=args.pause,
        poison=args.poison,
        rate=args.rate,
        threads=args.threads,
        settle_s=args.settle,
        session_timeout_ms=args.session_timeout_ms,
        run_dir=args.run_dir,
    )


def main(argv: list[str]) -> int:
    config = parse(argv)
    report = run(config, say=lambda line: print(line, flush=True))
    print(report.text(), flush=True)
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
