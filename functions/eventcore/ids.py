"""Identifiers: UUIDv7 (RFC 9562) for new events."""

from __future__ import annotations

import os
import time
import uuid


def uuid7(now_ns: int | None = None, rand: bytes | None = None) -> str:
    """A UUIDv7: 48 bits of Unix milliseconds, then 74 random bits.

    Time-ordered ids keep the ``events`` primary key index append-mostly.
    """
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    tail = int.from_bytes(os.urandom(10) if rand is None else rand, "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80 | tail & ((1 << 80) - 1)
    value = value & ~(0xF << 76) | 0x7 << 76  # version 7
    value = value & ~(0x3 << 62) | 0x2 << 62  # RFC 9562 variant
    return str(uuid.UUID(int=value))
