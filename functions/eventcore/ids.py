"""Identifiers: UUIDv7 (RFC 9562) for new events."""

from __future__ import annotations

import os
import time

# Of 80 random bits, the 74 a UUIDv7 keeps; then its version (7) and variant (0b10).
_RANDOM = ((1 << 80) - 1) & ~(0xF << 76) & ~(0x3 << 62)
_VERSION_AND_VARIANT = 0x7 << 76 | 0x2 << 62


def uuid7(now_ns: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids keep the ``events`` primary key index append-mostly.
    Formatted here rather than through ``uuid.UUID``: publish makes one per
    event, and the class costs twice as much.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    tail = int.from_bytes(os.urandom(10) if rand is None else rand, "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | tail & _RANDOM | _VERSION_AND_VARIANT
    text = value.to_bytes(16, "big").hex()
    return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}"
