"""Argument types the bridge's command-line tools share (redrive, replay)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime

from bridge.redrive.selection import parse_moment


def at_least(minimum: float, kind: Callable[[str], float]) -> Callable[[str], float]:
    """A number of ``kind`` (int, float) no smaller than ``minimum``."""

    def convert(text: str) -> float:
        try:
            value = kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum:g}, not {text}")
        return value

    return convert


def moment(text: str) -> datetime:
    """An ISO-8601 date or time, UTC unless it says."""
    try:
        return parse_moment(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(str(error)) from None
