"""One fault run, from an empty run directory to the verdict.

Start the stack; publish while the nemesis kills (and/or the bridge is
paused, and/or poison is produced); heal; wait until quiet; read the table
and the dead-letter topic; check; stop the stack. The run directory keeps
``history.jsonl``, ``offsets.jsonl``, ``result.json`` and every component's log.
"""

from __future__ import annotations

import os
import random
import secrets
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson

from infra.waiting import WaitTimeoutError, wait_until
from tests.faults import readback
from tests.faults.checker import Observed, Result, check
from tests.faults.generator import Gates, Generator, Progress, plan_requests
from tests.faults.groups import bridge_groups
from tests.faults.history import INFO, History, load
from tests.faults.nemesis import FAULTS, Nemesis, plan_faults
from tests.faults.offsets import OffsetSampler
from tests.faults.pause import Pause
from tests.faults.poison import PoisonProducer, plan_poison
from tests.faults.stack import Stack, StackError

EVENTS_TOPIC, DLQ_TOPIC = "events", "events.dlq"
# The broker's group.min.session.timeout.ms, for runs with a pause: it must
# last as long as the session to evict the bridge, and the bridge's default
# (45 s) would make those runs long. Kill runs use the bridge's default, as
# users do: a killed bridge is back in its groups at once (static membership).
SESSION_TIMEOUT_MS = 6000
SESSION_TIMEOUT = "EVENTFN_BRIDGE_SESSION_TIMEOUT_MS"


@dataclass(frozen=True)
class RunConfig:
    """What to run; the defaults are the full run."""

    events: int = 20_000
    faults: tuple[str, ...] = FAULTS
    seed: int = 1
    pause: bool = False
    poison: bool = False
    rate: float = 200.0  # events per second published, 0 for as fast as possible
    threads: int = 4
    max_delay_s: float = 3.0
    settle_s: float = 5.0
    publish_deadline_s: float = 1800.0
    quiescence_timeout_s: float = 300.0
    run_dir: Path | None = None
    inherit_eventfn: bool = True
    # None: SESSION_TIMEOUT_MS with a pause, else the bridge's own default (0 too)
    session_timeout_ms: int | None = None
    extra_env: Mapping[str, str] = field(default_factory=dict)


@dataclass
class Report:
    """The verdict plus what the run itself could not do."""

    config: RunConfig
    run_dir: Path
    result: Result | None = None
    errors: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    durations: dict[str, float] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.result is not None and self.result.ok and not self.errors

    def text(self) -> str:
        c = self.config
        lines = [
            f"fault run: {c.events} events, faults {','.join(c.faults) or 'none'}, "
            f"pause {'yes' if c.pause else 'no'}, poison {'yes' if c.poison else 'no'}, "
            f"seed {c.seed}, rate {c.rate:g}/s",
            "durations: " + ", ".join(f"{k} {v:.1f}s" for k, v in self.durations.items()),
        ]
        if self.result is not None:
            lines.append(self.result.summary())
            for what, keys in self.result.examples.items():
                lines.append(f"  e.g. {what}: {', '.join(id_ for _, id_ in keys)}")
        lines += [f"note: {note}" for note in self.notes]
        lines += [f"error: {error}" for error in self.errors]
        lines.append(f"run directory (logs, history.jsonl, result.json): {self.run_dir}")
        lines.append("PASS" if self.ok else "FAIL")
        return "\n".join(lines)


def run(config: RunConfig, say: Callable[[str], None] = print) -> Report:
    """Run it all; never raises for what the system did, only reports it."""
    run_dir = config.run_dir or Path(tempfile.mkdtemp(prefix="eventfn-faults-"))
    run_dir.mkdir(parents=True, exist_ok=True)
    report = Report(config, run_dir.resolve())
    began = time.monotonic()
    env = dict(config.extra_env)
    caller_says = config.inherit_eventfn and SESSION_TIMEOUT in os.environ
    session_ms = config.session_timeout_ms
    if session_ms is None:
        session_ms = SESSION_TIMEOUT_MS if config.pause else 0
    if session_ms and not caller_says:
        env.setdefault(SESSION_TIMEOUT, str(session_ms))
    if config.pause:
        # The pause is a zombie that wakes up: the supervisor's liveness probe
        # would kill the stopped bridge first, as a kubelet would.
        env.setdefault("EVENTFN_LIVENESS_PERIOD_S", "0")
    say(f"starting the stack in {report.run_dir} ...")
    try:
        stack = Stack.start(run_dir, env, inherit_eventfn=config.inherit_eventfn)
    except StackError as error:
        report.errors.append(str(error))
    else:
        report.durations["start"] = time.monotonic() - began
        _run_on(stack, config, report, say)
    report.durations["total"] = time.monotonic() - began
    _write_result(report)
    return report


def _run_on(stack: Stack, config: RunConfig, report: Report, say: Callable[[str], None]) -> None:
    """Exercise and check a started stack, then stop it, whatever happened."""
    history = History(stack.run_dir / "history.jsonl")
    try:
        _exercise(config, stack, history, report, say)
    except Exception as error:  # a bug of ours must still stop the stack and say what it was
        report.errors.append(f"{type(error).__name__}: {error}")
    finally:
        history.close()
        stopping = time.monotonic()
        try:
            stack.stop()
        except StackError as error:
            report.errors.append(str(error))
        report.durations["stop"] = time.monotonic() - stopping


def _exercise(
    config: RunConfig, stack: Stack, history: History, report: Report, say: Callable[[str], None]
) -> None:
    rng = random.Random(config.seed)
    tag = f"s{config.seed}-{secrets.token_hex(3)}"
    source = f"/eventfn/faults/{tag}"
    group_names = bridge_groups(stack.env)
    history.record("runner", INFO, "start", seed=config.seed, source=source, config=_plain(config))
    progress, gates = Progress(), Gates()
    generator = Generator(
        stack.gateway_url,
        plan_requests(config.events, source, tag, rng),
        history,
        progress,
        gates,
        threads=config.threads,
        rate=config.rate,
        deadline_s=config.publish_deadline_s,
        seed=config.seed,
    )
    nemesis = pause = poison = None
    if config.faults:
        schedule = plan_faults(config.faults, config.events, rng, config.max_delay_s)
        history.record("nemesis", INFO, "schedule", plan=[asdict(p) for p in schedule])
        nemesis = Nemesis(stack, schedule, history, progress, gates)
    if config.pause:
        pause = Pause(
            stack,
            history,
            progress,
            gates,
            int(config.events * 0.7),
            group_names,
            at=int(config.events * (0.25 + 0.1 * rng.random())),
            flow_while_paused=config.events // 20,
        )
    if config.poison:
        poison = PoisonProducer(
            stack.bootstrap,
            EVENTS_TOPIC,
            plan_poison(config.events, source, tag, rng),
            history,
            progress,
            config.publish_deadline_s,
        )
    actors: list[Nemesis | Pause | PoisonProducer] = [
        a for a in (nemesis, pause, poison) if a is not None
    ]
    sampler = OffsetSampler(
        stack.bootstrap, EVENTS_TOPIC, group_names, stack.run_dir / "offsets.jsonl"
    )
    sampler.start()
    try:
        say(f"publishing {config.events} events as {source} ...")
        _publish(generator, progress, actors, report)
        say("healing and waiting for quiescence ...")
        _quiesce(config, stack, group_names, report)
    finally:
        offsets = sampler.finish()
    if sampler.crashes:
        report.notes.append(
            f"the offset sampler crashed {sampler.crashes} times (librdkafka; see "
            "logs/offset-sampler.log) and was restarted"
        )
    reading = time.monotonic()
    observed = Observed(
        rows=readback.rows(stack.database_url),
        dead_letters=readback.dead_letters(stack.bootstrap, DLQ_TOPIC),
        offsets=offsets,
        kafka_copies=readback.kafka_copies(stack.bootstrap, EVENTS_TOPIC),
    )
    report.durations["read"] = time.monotonic() - reading
    history.record("runner", INFO, "observed", rows=len(observed.rows))
    report.result = check(load(history.path), observed, expected_events=config.events)
    if pause is not None:
        report.notes += pause.notes


def _publish(
    generator: Generator,
    progress: Progress,
    actors: list[Nemesis | Pause | PoisonProducer],
    report: Report,
) -> None:
    """Publish everything while the actors do their part; each of them ends by itself."""
    began = time.monotonic()
    try:
        for actor in actors:
            actor.start()
        generator.start()
        generator.join()
    finally:
        generator.stop.set()
        progress.close()
        for actor in actors:
            actor.join()
            if isinstance(actor, Pause):
                actor.stop_standby()
    report.durations["publish"] = time.monotonic() - began
    report.errors += [f"{type(a).__name__}: {a.error}" for a in (generator, *actors) if a.error]


def _quiesce(config: RunConfig, stack: Stack, group_names: list[str], report: Report) -> None:
    """Heal, then wait until nothing moves; a timeout is reported and the reads go on."""
    began = time.monotonic()
    try:
        wait_until(stack.all_healthy, timeout=180, what="every component healthy")
        readback.wait_quiescent(
            stack.bootstrap,
            stack.database_url,
            EVENTS_TOPIC,
            DLQ_TOPIC,
            group_names,
            config.settle_s,
            config.quiescence_timeout_s,
        )
    except WaitTimeoutError as error:
        report.errors.append(str(error))
    report.durations["quiesce"] = time.monotonic() - began


def _plain(config: RunConfig) -> dict[str, Any]:
    return {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(config).items()}


def _write_result(report: Report) -> None:
    result = report.result
    document = {
        "ok": report.ok,
        "config": _plain(report.config),
        "durations": report.durations,
        "errors": report.errors,
        "notes": report.notes,
        "counts": dict(result.counts) if result else None,
        "violations": list(result.violations) if result else None,
        "faults": [asdict(f) for f in result.faults] if result else None,
        "flow": asdict(result.flow) if result and result.flow else None,
        "summary": result.summary() if result else None,
    }
    path = report.run_dir / "result.json"
    if path.parent.is_dir():
        path.write_bytes(orjson.dumps(document, option=orjson.OPT_INDENT_2))
