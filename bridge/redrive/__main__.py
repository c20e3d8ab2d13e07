"""``python -m bridge.redrive``: replay dead letters into the events topic.

Exit status: 0 done, 1 Kafka (or the settings) stopped the run, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import json
import re
import sys

from bridge.arguments import at_least, moment
from bridge.redrive.errors import RedriveError
from bridge.redrive.replayer import Options, Replayer, Tally
from bridge.redrive.selection import DeadLetter, Decision, Filters, Verdict
from bridge.redrive.settings import RedriveSettings
from eventio.settings import SettingsError

_REASON_CHARS = 160

DESCRIPTION = """\
Replay dead letters from the dead-letter topic into the events topic: the
original key, value and headers, without the eventfn.error.* headers, with
eventfn.redrive.count (and eventfn.redrive.time). A dead letter that was
already redriven --max-redrives times is skipped, so a record that keeps
failing does not loop. Reads up to where the topic ended at the start, as
consumer group <EVENTFN_BRIDGE_GROUP_PREFIX>redrive (eventfn-redrive), which
commits only what Kafka acknowledged: a second run goes on where this one
stopped. Records a filter passes over are passed over for the group too;
--from-beginning reconsiders them (and replays again what was redriven
before, which persist and alert take once per event anyway).
Environment: KAFKA_BOOTSTRAP_SERVERS, EVENTFN_DLQ_TOPIC, EVENTFN_EVENTS_TOPIC,
EVENTFN_BRIDGE_GROUP_PREFIX."""


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="python -m bridge.redrive",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument(
        "--dry-run",
        action="store_true",
        help="print what would be replayed; produce and commit nothing",
    )
    parse.add_argument(
        "--limit", type=at_least(1, int), metavar="N", help="replay at most N records"
    )
    parse.add_argument(
        "--error",
        type=_pattern,
        metavar="REGEX",
        help="only dead letters whose eventfn.error.reason or .status this matches "
        "(Python syntax, case-sensitive unless it starts with (?i))",
    )
    parse.add_argument(
        "--function",
        metavar="NAME",
        help="only dead letters of this function (eventfn.error.function)",
    )
    parse.add_argument(
        "--since",
        type=moment,
        metavar="TIME",
        help="only those that last failed at or after TIME (ISO-8601; UTC unless it says)",
    )
    parse.add_argument(
        "--until", type=moment, metavar="TIME", help="only those that last failed before TIME"
    )
    parse.add_argument(
        "--max-redrives",
        type=at_least(1, int),
        default=Filters.max_redrives,
        metavar="K",
        help="skip records already redriven K times (default: %(default)s)",
    )
    parse.add_argument(
        "--from-beginning",
        action="store_true",
        help="read from the topic's first offset, not where the group stopped",
    )
    parse.add_argument(
        "--timeout",
        type=at_least(0.1, float),
        default=RedriveSettings.timeout_s,
        metavar="SECONDS",
        help="how long Kafka may take to answer (default: %(default)s)",
    )
    return parse


def main(argv: list[str] | None = None) -> int:
    parse = parser()
    args = parse.parse_args(argv)
    if args.since and args.until and args.since >= args.until:
        parse.error("--since must be before --until")
    options = Options(
        filters=Filters(args.error, args.function, args.since, args.until, args.max_redrives),
        dry_run=args.dry_run,
        limit=args.limit,
        from_beginning=args.from_beginning,
    )
    try:
        settings = RedriveSettings.from_env(timeout_s=args.timeout)
        replayer = Replayer(
            settings, options, lambda letter, verdict: _print(letter, verdict, options)
        )
    except (RedriveError, SettingsError) as error:
        print(f"redrive: {error}", file=sys.stderr)
        return 1
    mode = " (dry run: nothing is produced or committed)" if options.dry_run else ""
    route = f"{settings.dead_letter_topic} -> {settings.events_topic}"
    print(f"redrive {route}, group {settings.group}{mode}")
    try:
        replayer.run()
    except RedriveError as error:
        if replayer.tally.read:
            print(summary(replayer.tally, options))
        print(f"redrive: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(summary(replayer.tally, options))
        print("redrive: interrupted; the group's offsets stay at its last commit", file=sys.stderr)
        return 130
    print(summary(replayer.tally, options))
    return 0


def line(letter: DeadLetter, verdict: Verdict, dry_run: bool) -> str:
    """One record: where it is, which event, which function, why it failed, what now.
    Never the value nor other headers: they may hold what must not reach a terminal."""
    decision = verdict.decision.value
    if dry_run and verdict.decision is Decision.REPLAY:
        decision = "would replay"
    why = f" ({verdict.why})" if verdict.why else ""
    reason = letter.error("reason")
    if len(reason) > _REASON_CHARS:
        reason = reason[:_REASON_CHARS] + "…"
    origin = f" from={letter.origin}" if letter.origin else ""
    return (
        f"{letter.coordinates} id={_printable(letter.header('ce_id')) or '-'}"
        f" function={_printable(letter.error('function')) or '-'}{origin}"
        f" reason={json.dumps(reason, ensure_ascii=False)} -> {decision}{why}"
    )


def summary(tally: Tally, options: Options) -> str:
    return (
        f"selected {tally.selected} / replayed {tally.replayed} / "
        f"skipped (loop guard) {tally.loop_guarded} / skipped (duplicate) {tally.duplicates} / "
        f"filtered out {tally.filtered}" + (" (dry run)" if options.dry_run else "")
    )


def _print(letter: DeadLetter, verdict: Verdict, options: Options) -> None:
    print(line(letter, verdict, options.dry_run), flush=True)


def _printable(text: str) -> str:
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)


def _pattern(text: str) -> re.Pattern[str]:
    try:
        return re.compile(text)
    except re.error as error:
        raise argparse.ArgumentTypeError(f"not a regular expression: {error}") from None


if __name__ == "__main__":
    sys.exit(main())
