"""The alert rules file: read at start, read again when it changes, checked from the shell.

``python -m eventio.rulefile check FILE...`` validates rule files as
``promtool check rules`` does: each file's rules or its problems (with the
line of the rule), exit 1 if any file is wrong.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from eventcore.errors import RuleError
from eventcore.rules import Rule, load_rules

log = logging.getLogger("eventfn.alert")


class RuleFile:
    """The rules of one file. A change is picked up at the next call of
    :meth:`current`; a file that became invalid is logged, once, and the rules
    in force stay."""

    def __init__(self, path: Path, rules: list[Rule], stamp: tuple[int, int]) -> None:
        self.path = path
        self._rules = rules
        self._stamp = stamp
        self._refused: tuple[int, int] | None = None

    @classmethod
    def open(cls, path: Path) -> RuleFile:
        """The file's rules now; RuleError when they cannot be used."""
        stamp = _stat(path)
        return cls(path, read(path), stamp)

    def current(self) -> list[Rule]:
        stamp = _stat(self.path)
        if stamp != self._stamp and stamp != self._refused:
            try:
                self._rules = read(self.path)
            except RuleError as error:
                self._refused = stamp
                log.error("%s; the rules in force stay", error)
            else:
                self._stamp = stamp
                log.info("%s: %d rules loaded", self.path, len(self._rules))
        return self._rules


def _stat(path: Path) -> tuple[int, int]:
    """What tells a changed file: its modification time and size."""
    try:
        status = path.stat()
    except OSError:
        return (0, 0)
    return (status.st_mtime_ns, status.st_size)


def read(path: Path) -> list[Rule]:
    """The rules of ``path``; RuleError naming the file, the line and the problem."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as error:
        raise RuleError(f"{path}: cannot be read: {error}") from None
    try:
        return load_rules(text)
    except RuleError as error:
        raise RuleError(f"{path}: {error}") from None


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m eventio.rulefile", description="Check alert rule files."
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="validate rule files, as promtool check rules")
    check.add_argument("files", nargs="+", type=Path, metavar="FILE")
    args = parser.parse_args(argv)
    failed = 0
    for path in args.files:
        print(f"Checking {path}")
        try:
            rules = read(path)
        except RuleError as error:
            failed += 1
            print(f"  FAILED: {error}")
        else:
            print(f"  SUCCESS: {len(rules)} rules found")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
