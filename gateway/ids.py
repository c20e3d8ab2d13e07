"""Fn-style identifiers: 26 characters of Crockford base32."""

from __future__ import annotations

import hashlib
import os
import time

_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"


def _encode(value: int, length: int = 26) -> str:
    chars = []
    for _ in range(length):
        chars.append(_ALPHABET[value & 31])
        value >>= 5
    return "".join(reversed(chars))


def new_id() -> str:
    """A ULID: time-ordered, for call ids."""
    value = (time.time_ns() // 1_000_000) << 80 | int.from_bytes(os.urandom(10), "big")
    return _encode(value)


def stable_id(*names: str) -> str:
    """The same id for the same names, across restarts (the fn CLI caches invoke URLs)."""
    digest = hashlib.sha256("\x00".join(names).encode()).digest()
    return _encode(int.from_bytes(digest[:17], "big") >> 6)
