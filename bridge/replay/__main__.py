"""``python -m bridge.replay``: replay archived events into the events topic.

Exit status: 0 done, 1 the bucket, Kafka or the settings stopped the run, 2 bad arguments.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)

from bridge.arguments import at_least, moment
from bridge.replay.errors import ReplayError
from bridge.replay.replayer import ArchivedObject, Options, Replayer, Tally
from bridge.replay.selection import Selection
from bridge.replay.settings import ReplaySettings
from eventio.settings import SettingsError

DESCRIPTION = """\
Replay events archived by the archive function back into the events topic:
each event of the range [--from, --to) (by its own time) whose type matches
--type, as the record publish made of it, with its original id and source,
so persist and alert take it once (a second replay of the same range adds
no row and no alert). Each hour's events go in their Kafka order. Progress
on stderr, the counts on stdout.
Environment: EVENTFN_ARCHIVE_BUCKET, EVENTFN_ARCHIVE_PREFIX,
EVENTFN_ARCHIVE_ENDPOINT_URL or AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, KAFKA_BOOTSTRAP_SERVERS,
EVENTFN_EVENTS_TOPIC."""


def parser() -> argparse.ArgumentParser:
    parse = argparse.ArgumentParser(
        prog="scripts/replay-archive.sh",
        description=DESCRIPTION,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument(
        "--from",
        dest="start",
        required=True,
        type=moment,
        metavar="TIME",
        help="events at or after TIME (ISO-8601; UTC unless it says)",
    )
    parse.add_argument(
        "--to", dest="end", required=True, type=moment, metavar="TIME", help="events before TIME"
    )
    parse.add_argument(
        "--type",
        metavar="PATTERN",
        help="only event types this shell pattern matches (TEMP, 'com.example.*')",
    )
    parse.add_argument(
        "--dry-run", action="store_true", help="count what would be replayed; produce nothing"
    )
    parse.add_argument(
        "--limit", type=at_least(1, int), metavar="N", help="replay at most N events"
    )
    parse.add_argument(
        "--timeout",
        type=at_least(0.1, float),
        default=ReplaySettings.timeout_s,
        metavar="SECONDS",
        help="how long Kafka may take to acknowledge (default: %(default)s)",
    )
    return parse


def main(argv: list[str] | None = None) -> int:
    parse = parser()
    args = parse.parse_args(argv)
    if args.start >= args.end:
        parse.error("--from must be before --to")
    options = Options(Selection(args.start, args.end, args.type), args.dry_run, args.limit)
    try:
        settings = ReplaySettings.from_env(timeout_s=args.timeout)
        replayer = Replayer(settings, options)
    except (ReplayError, SettingsError) as error:
        print(f"replay-archive: {error}", file=sys.stderr)
        return 1
    mode = " (dry run: nothing is produced)" if options.dry_run else ""
    print(f"replay {replayer.where} -> {settings.events_topic}{mode}", flush=True)
    try:
        objects = replayer.plan()
        print(f"{len(objects)} objects meet the range", flush=True)
        with _progress() as progress:
            task = progress.add_task("replaying", total=sum(o.size for o in objects))
            replayer.run(objects, _advance(progress, task, replayer.tally))
    except ReplayError as error:
        print(summary(replayer.tally, options))
        print(f"replay-archive: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(summary(replayer.tally, options))
        print("replay-archive: interrupted", file=sys.stderr)
        return 130
    print(summary(replayer.tally, options))
    return 0


def summary(tally: Tally, options: Options) -> str:
    replayed = "would replay" if options.dry_run else "replayed"
    count = tally.selected if options.dry_run else tally.replayed
    limited = options.limit is not None and tally.selected >= options.limit
    return (
        f"objects {tally.objects} / events {tally.events} / {replayed} {count}"
        f" / outside the range or type {tally.outside} / unreadable {tally.invalid}"
        + (f" (stopped at --limit {options.limit})" if limited else "")
    )


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        TaskProgressColumn(),
        DownloadColumn(),
        TimeRemainingColumn(),
        console=Console(stderr=True),
        transient=False,
    )


def _advance(progress: Progress, task: TaskID, tally: Tally) -> Callable[[ArchivedObject], None]:
    def advance(item: ArchivedObject) -> None:
        description = f"{tally.objects} objects, {tally.selected} events"
        progress.update(task, advance=item.size, description=description)

    return advance


if __name__ == "__main__":
    sys.exit(main())
