"""What the fault runs publish: structured CloudEvents whose data says who they are.

Every event's data carries its sequence number and a digest of its identity,
so the final read can tell a row that was written as sent from one that was
not. Nothing here does I/O.
"""

from __future__ import annotations

import hashlib
from typing import Any

# (source, id): the identity persist writes once.
Key = tuple[str, str]

EVENT_TYPE = "eventfn.faults.reading"


def event_id(tag: str, seq: int) -> str:
    return f"{tag}-{seq:06d}"


def digest(key: Key) -> str:
    """A short digest of the identity, stored in the event's data."""
    return hashlib.sha256(f"{key[0]}|{key[1]}".encode()).hexdigest()[:16]


def payload(key: Key, seq: int) -> dict[str, Any]:
    return {"seq": seq, "digest": digest(key)}


def structured(key: Key, seq: int) -> dict[str, Any]:
    """The structured-mode CloudEvent for ``key``; the client chooses the id."""
    source, id_ = key
    return {
        "specversion": "1.0",
        "id": id_,
        "source": source,
        "type": EVENT_TYPE,
        "datacontenttype": "application/json",
        "data": payload(key, seq),
    }


def intact(key: Key, data: Any) -> bool:
    """True when a row's data is what was sent for ``key``."""
    return isinstance(data, dict) and data.get("digest") == digest(key)
