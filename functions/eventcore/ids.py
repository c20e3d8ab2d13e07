"""Identifiers: UUIDv7 (RFC 9562) for new events."""

from __future__ import annotations

import os
import time

# Of 80 random bits, the 74 a UUIDv7 keeps; then its version (7) and variant (0b10).
_RANDOM = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_VERSION_AND_VARIANT = 0x7 << 76 | 0x2 << 62
# Random tails drawn from the system this many at a time: one system call
# costs about as much as formatting the id, and publish makes one per event.
_DRAW = 256
_tails: list[int] = []
# A child process must never hand out the tails its parent also has.
os.register_at_fork(after_in_child=_tails.clear)


def uuid7(now_ns: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids keep the ``events`` primary key index append-mostly.
    Formatted here rather than through ``uuid.UUID``, which costs twice as much.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    tail = _random_tail() if rand is None else int.from_bytes(rand, "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | tail & _RANDOM | _VERSION_AND_VARIANT
    text = value.to_bytes(16, "big").hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"


def _random_tail() -> int:
    """80 bits from os.urandom; each drawn once (list.pop is atomic), so
    threads may share the store."""
    try:
        return _tails.pop()
    except IndexError:
        data = os.urandom(10 * _DRAW)
        tails = [int.from_bytes(data[i : i + 10], "big") for i in range(0, len(data), 10)]
        _tails.extend(tails[1:])
        return tails[0]
