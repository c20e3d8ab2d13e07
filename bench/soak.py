"""The soak: the whole pipeline at half its sustained capacity for a long time.

    scripts/soak.sh [--minutes 10] [--rate EVENTS_PER_S] [--report PATH]

Starts Kafka, PostgreSQL, the gateway and a persist+alert bridge on free ports
(as the benchmarks do), publishes through ``/publish`` on a fixed cadence for
``--minutes``, and every ``SAMPLE_EVERY_S`` samples the resident memory of each
process of the run, both consumer groups' lag, and publish's latency. At the
end it drains, counts the rows, and judges (``judge``, pure):

- acknowledged = stored: every event publish acknowledged has its row (by id),
  and the only rows beyond them are events of requests that failed (a request
  that timed out may have reached Kafka: at-least-once); and no request failed;
- memory: no process grew by more than ``MAX_GROWTH`` past the warm-up (its
  largest RSS in the last quarter against its RSS when the warm-up ended);
- lag bounded: neither group's lag in the second half exceeded
  ``MAX_LAG_S`` seconds' worth of the rate.

Prints a Markdown report (and writes it to ``--report``); exit 1 when a check
fails. Not part of the test suite: ten minutes of load is a soak, not a test.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psycopg

from bench.cpu import classify
from bench.ingest import batch_bodies
from bench.latency import Sent, send_at_rate
from bench.offsets import end_offsets, lag_reader, start_groups_at
from bench.payload import events
from bench.persist import count_since, last_seq
from bench.sampling import sampling
from bench.stack import Stack, stack
from bench.stats import percentile
from eventio.settings import RUN_DIR
from infra import processes
from infra.waiting import wait_until

# Row 8 of the latest full run in BENCHMARKS.md (events/s sustained); the soak
# offers half of it unless told a rate.
SUSTAINED = 6_200
SAMPLE_EVERY_S = 5.0
WARMUP_SHARE = 0.2
MAX_GROWTH = 0.10
MAX_LAG_S = 5.0
EVENTS_PER_REQUEST = 100
CONNECTIONS = 8
GROUPS = ("persist", "alert")
_PAGE = 4096


@dataclass(frozen=True)
class Sample:
    """One moment: seconds into the soak, RSS (bytes) per process name, lag per group."""

    at: float
    rss: Mapping[str, int]
    lags: Mapping[str, int]


@dataclass(frozen=True)
class Verdict:
    ok: bool
    lines: tuple[str, ...]


@dataclass
class Soak:
    rate: int
    seconds: float
    sent: Sequence[Sent] = ()
    samples: list[Sample] = field(default_factory=list)
    stored: int = 0
    missing: int = 0
    drain_s: float = 0.0

    def acked_ids(self) -> Iterator[str]:
        return (i for s in self.sent if s.status == 202 for i in s.ids)

    @property
    def acked(self) -> int:
        return sum(1 for _ in self.acked_ids())

    @property
    def failed(self) -> int:
        return sum(1 for s in self.sent if s.status != 202)


def growth(samples: Sequence[Sample], name: str, warmed_at: float) -> float | None:
    """How much ``name``'s RSS grew past the warm-up: its largest in the last
    quarter over its first sample at or after ``warmed_at``, minus one."""
    after = [s for s in samples if s.at >= warmed_at and name in s.rss]
    if len(after) < 2:
        return None
    end = after[-1].at
    last_quarter = [s.rss[name] for s in after if s.at >= end - (end - warmed_at) / 4]
    return max(last_quarter) / after[0].rss[name] - 1.0


def judge(soak: Soak) -> Verdict:
    """Whether the soak held, with one line per check."""
    lines, ok = [], True
    # A request that timed out may still have reached Kafka (at-least-once), so
    # its events can be stored though never acknowledged; only the events of
    # failed requests may be extra, and every acknowledged one must be there.
    extra = soak.stored - (soak.acked - soak.missing)
    fine = soak.missing == 0 and 0 <= extra <= soak.failed * EVENTS_PER_REQUEST
    ok &= fine
    lines.append(
        f"{'ok' if fine else 'FAILED'}: acknowledged {soak.acked:,}, stored {soak.stored:,}, "
        f"acknowledged but not stored {soak.missing:,}, stored beyond them {extra:,}"
    )
    fine = soak.failed == 0
    ok &= fine
    lines.append(f"{'ok' if fine else 'FAILED'}: failed publish requests {soak.failed:,}")
    warmed_at = soak.seconds * WARMUP_SHARE
    names = sorted({name for s in soak.samples for name in s.rss})
    for name in names:
        grew = growth(soak.samples, name, warmed_at)
        if grew is None:
            continue
        fine = grew <= MAX_GROWTH
        ok &= fine
        lines.append(f"{'ok' if fine else 'FAILED'}: {name} RSS grew {grew:+.1%} past warm-up")
    bound = soak.rate * MAX_LAG_S
    for group in GROUPS:
        second_half = [
            s.lags[group] for s in soak.samples if s.at >= soak.seconds / 2 and group in s.lags
        ]
        worst = max(second_half, default=0)
        fine = worst <= bound
        ok &= fine
        lines.append(
            f"{'ok' if fine else 'FAILED'}: {group} lag at most {worst:,} in the second half "
            f"(bound {bound:,.0f}: {MAX_LAG_S:g} s of the rate)"
        )
    return Verdict(ok, tuple(lines))


def report(soak: Soak, verdict: Verdict) -> str:
    """The soak as Markdown: the checks, then the samples."""
    latencies = sorted(s.answered - s.due for s in soak.sent)
    names = sorted({name for s in soak.samples for name in s.rss})
    out = [
        f"## Soak: {soak.rate:,} events/s for {soak.seconds / 60:g} minutes",
        "",
        f"Publish latency (due to answered, {EVENTS_PER_REQUEST} events a request): "
        f"p50 {percentile(latencies, 50) * 1000:.1f} ms, "
        f"p99 {percentile(latencies, 99) * 1000:.1f} ms; drained "
        f"{soak.drain_s:.1f} s after the last request.",
        "",
        *(f"- {line}" for line in verdict.lines),
        "",
        "| s | "
        + " | ".join(f"{n} MiB" for n in names)
        + " | "
        + " | ".join(f"{g} lag" for g in GROUPS)
        + " |",
        "|---" * (1 + len(names) + len(GROUPS)) + "|",
    ]
    every = max(1, len(soak.samples) // 20)
    for sample in soak.samples[::every]:
        rss = " | ".join(f"{sample.rss.get(n, 0) / 2**20:.0f}" for n in names)
        lags = " | ".join(f"{sample.lags.get(g, 0):,}" for g in GROUPS)
        out.append(f"| {sample.at:.0f} | {rss} | {lags} |")
    return "\n".join(out) + "\n"


def resident(run_dir: Path) -> dict[str, int]:
    """RSS in bytes of every process of the run, summed by kind (gateway, bridge,
    kafka, postgres, fn-persist, ...)."""
    found: dict[str, int] = {}
    for pid in processes.processes_with_env(RUN_DIR, str(run_dir)):
        try:
            pages = int(Path(f"/proc/{pid}/statm").read_text().split()[1])
        except (OSError, IndexError, ValueError):
            continue
        name = classify(processes.cmdline_of(pid), processes.environ_of(pid), own=False)
        found[name] = found.get(name, 0) + pages * _PAGE
    return found


def missing(connection: psycopg.Connection[Any], seq: int, ids: Iterable[str]) -> int:
    """How many of ``ids`` have no row past ``seq``: the ids go into a
    temporary table by COPY, so a million of them is one join, not a million
    lookups."""
    connection.execute("CREATE TEMPORARY TABLE soak_acked (id text NOT NULL)")
    try:
        with connection.cursor() as cursor, cursor.copy("COPY soak_acked (id) FROM STDIN") as copy:
            for event_id in ids:
                copy.write_row((event_id,))
        row = connection.execute(
            "SELECT count(*) FROM soak_acked a"
            " WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.id = a.id AND e.seq > %s)",
            (seq,),
        ).fetchone()
        return int(row[0]) if row else 0
    finally:
        connection.execute("DROP TABLE soak_acked")


def soak(running: Stack, rate: int, seconds: float) -> Soak:
    prefix = f"soak-{uuid.uuid4().hex[:8]}-"
    groups = [prefix + group for group in GROUPS]
    start_groups_at(running.kafka, groups, end_offsets(running.kafka))
    bodies = batch_bodies(events(1_000), EVENTS_PER_REQUEST)
    requests = max(1, round(rate * seconds / EVENTS_PER_REQUEST))
    result = Soak(rate, requests * EVENTS_PER_REQUEST / rate)
    with (
        psycopg.connect(running.database_url, autocommit=True) as connection,
        running.start_bridge("persist,alert", group_prefix=prefix),
        lag_reader(running.kafka, groups) as read_groups,
    ):

        def lags() -> dict[str, int]:
            return {name.removeprefix(prefix): lag for name, lag in read_groups().items()}

        seq = last_seq(connection)
        began = time.monotonic()
        with sampling(
            lambda: Sample(time.monotonic() - began, resident(running.run_dir), lags()),
            SAMPLE_EVERY_S,
            "soak-samples",
        ) as samples:
            result.sent = send_at_rate(
                f"{running.gateway_url}/publish",
                [bodies[i % len(bodies)] for i in range(requests)],
                EVENTS_PER_REQUEST / rate,
                CONNECTIONS,
            )
            drained = time.monotonic()
            wait_until(lambda: not any(lags().values()), timeout=300, what="the drain")
            result.drain_s = time.monotonic() - drained
        result.samples = samples
        wait_until(
            lambda: count_since(connection, seq) >= result.acked,
            timeout=60,
            what="every acknowledged row",
        )
        result.stored = count_since(connection, seq)
        result.missing = missing(connection, seq, result.acked_ids())
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="scripts/soak.sh", description=__doc__)
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=int, default=SUSTAINED // 2, help="events/s offered")
    parser.add_argument("--report", type=Path, default=Path(".run/soak-report.md"))
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="eventfn-soak-") as work, stack(Path(work)) as running:
        print(f"soak: {args.rate:,} events/s for {args.minutes:g} minutes ...", file=sys.stderr)
        result = soak(running, args.rate, args.minutes * 60)
    verdict = judge(result)
    text = report(result, verdict)
    args.report.parent.mkdir(parents=True, exist_ok=True)
    args.report.write_text(text)
    print(text)
    return 0 if verdict.ok else 1


if __name__ == "__main__":
    sys.exit(main())
