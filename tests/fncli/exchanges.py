"""The recorded fn CLI sessions under ``recorded/``: their file format, and how a
response of the gateway is held to the one the real CLI got.

Each file is one CLI command (``NN-<slug>.json``, replayed in name order, as the
recorder ran them): its arguments, what it printed and its exit code, and every
HTTP exchange it made, in order. The gateway's address is written ``{gateway}``.

A replayed response matches a recorded one when the status is the same, the
headers the CLI reads are the same, and the JSON body is the same document
once normalised: an id (a Fn ULID, an event's UUID) stands for whatever the
fresh gateway gave in its place, the same one every time it recurs (so a
function created in one step is the one deleted in a later one), and a time
only has to be an RFC 3339 time, as Go's ``strfmt.DateTime`` parses it.
This module is the only one that reads the format.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

RECORDED = Path(__file__).resolve().parent / "recorded"
GATEWAY = "{gateway}"

# Fn's ids (26 characters of Crockford base32) and the events' UUIDs.
_ID = re.compile(
    r"[0-9A-HJKMNP-TV-Z]{26}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
# What the CLI reads of a response's headers besides its body: the content type
# it decodes by and the call id (`fn invoke --display-call-id`). Fn's other
# headers (the fdk's version and runtime) need only be there: their values
# name the machine's Python.
_READ_HEADERS = ("content-type", "fn-call-id", "retry-after", "location")
# Not part of any contract: set by each side's HTTP stack.
HOP_HEADERS = frozenset(
    {"connection", "content-length", "date", "host", "keep-alive", "server", "transfer-encoding"}
)


class MismatchError(AssertionError):
    """A replayed response differs from the recorded one; the message names where."""


@dataclass(frozen=True)
class Message:
    """One request or response as recorded: headers lower-cased, the body as
    JSON when it is JSON, else as text."""

    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        """The body as JSON, or the absent-body marker None; raises ValueError otherwise."""
        return orjson.loads(self.body) if self.body else None

    def is_json(self) -> bool:
        try:
            self.json()
        except ValueError:
            return False
        return True

    def to_doc(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"headers": dict(sorted(self.headers.items()))}
        if self.body and self.is_json():
            doc["json"] = self.json()
        elif self.body:
            doc["text"] = self.body.decode()
        return doc

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Message:
        body = orjson.dumps(doc["json"]) if "json" in doc else doc.get("text", "").encode()
        return cls({k.lower(): v for k, v in doc["headers"].items()}, body)


@dataclass(frozen=True)
class Exchange:
    method: str
    target: str  # path and query, as sent
    request: Message
    status: int
    response: Message

    def to_doc(self) -> dict[str, Any]:
        return {
            "request": {"method": self.method, "target": self.target, **self.request.to_doc()},
            "response": {"status": self.status, **self.response.to_doc()},
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> Exchange:
        request, response = doc["request"], doc["response"]
        return cls(
            request["method"],
            request["target"],
            Message.from_doc(request),
            response["status"],
            Message.from_doc(response),
        )


@dataclass(frozen=True)
class Step:
    """One fn CLI command and what it did."""

    name: str
    args: tuple[str, ...]
    stdin: str
    exit_code: int
    stdout: str
    stderr: str
    exchanges: tuple[Exchange, ...]

    def to_doc(self) -> dict[str, Any]:
        return {
            "args": list(self.args),
            "stdin": self.stdin,
            "exit_code": self.exit_code,
            "stdout": self.stdout,
            "stderr": self.stderr,
            "exchanges": [exchange.to_doc() for exchange in self.exchanges],
        }

    @classmethod
    def from_doc(cls, name: str, doc: dict[str, Any]) -> Step:
        return cls(
            name,
            tuple(doc["args"]),
            doc["stdin"],
            doc["exit_code"],
            doc["stdout"],
            doc["stderr"],
            tuple(Exchange.from_doc(exchange) for exchange in doc["exchanges"]),
        )

    def write(self, directory: Path) -> Path:
        path = directory / f"{self.name}.json"
        path.write_bytes(orjson.dumps(self.to_doc(), option=orjson.OPT_INDENT_2) + b"\n")
        return path


def load(directory: Path = RECORDED) -> list[Step]:
    """Every recorded step, in the order it was recorded."""
    return [
        Step.from_doc(path.stem, orjson.loads(path.read_bytes()))
        for path in sorted(directory.glob("*.json"))
    ]


def placeholder(text: str, base_url: str) -> str:
    """``text`` with the gateway's address written ``{gateway}``."""
    return text.replace(base_url.rstrip("/"), GATEWAY)


@dataclass
class Ids:
    """Which id of the fresh gateway stands for which recorded one, both ways."""

    replayed: dict[str, str] = field(default_factory=dict)
    recorded: dict[str, str] = field(default_factory=dict)

    def bind(self, recorded: str, replayed: str, where: str) -> None:
        if not _ID.fullmatch(replayed):
            raise MismatchError(f"{where}: {replayed!r} is not an id like {recorded!r}")
        known = self.replayed.setdefault(recorded, replayed)
        back = self.recorded.setdefault(replayed, recorded)
        if known != replayed or back != recorded:
            raise MismatchError(
                f"{where}: {replayed!r} stands where the recording had {recorded!r}, "
                f"which was {known!r} before"
            )

    def substitute(self, text: str) -> str:
        """``text`` (a request's target or body) with the recorded ids replaced."""
        return _ID.sub(lambda found: self.replayed.get(found[0], found[0]), text)


def match(recorded: Any, replayed: Any, ids: Ids, where: str = "body") -> None:
    """Raise MismatchError unless ``replayed`` is the ``recorded`` document, normalised."""
    if isinstance(recorded, dict) and isinstance(replayed, dict):
        missing, extra = recorded.keys() - replayed.keys(), replayed.keys() - recorded.keys()
        if missing or extra:
            raise MismatchError(f"{where}: missing {sorted(missing)}, unexpected {sorted(extra)}")
        for key in recorded:
            match(recorded[key], replayed[key], ids, f"{where}.{key}")
    elif isinstance(recorded, list) and isinstance(replayed, list):
        if len(recorded) != len(replayed):
            raise MismatchError(f"{where}: {len(replayed)} items, recorded {len(recorded)}")
        for index, (was, now) in enumerate(zip(recorded, replayed, strict=True)):
            match(was, now, ids, f"{where}[{index}]")
    elif isinstance(recorded, str) and isinstance(replayed, str):
        match_text(recorded, replayed, ids, where)
    elif type(recorded) is not type(replayed) or recorded != replayed:
        raise MismatchError(f"{where}: {replayed!r}, recorded {recorded!r}")


def match_text(recorded: str, replayed: str, ids: Ids, where: str) -> None:
    if _TIME.fullmatch(recorded):
        if not _TIME.fullmatch(replayed):
            raise MismatchError(f"{where}: {replayed!r} is not an RFC 3339 time")
        datetime.fromisoformat(replayed)
        return
    # Ids may sit inside a string (an endpoint URL): the rest must be equal.
    recorded_ids, replayed_ids = _ID.findall(recorded), _ID.findall(replayed)
    if _ID.split(recorded) != _ID.split(replayed) or len(recorded_ids) != len(replayed_ids):
        raise MismatchError(f"{where}: {replayed!r}, recorded {recorded!r}")
    for was, now in zip(recorded_ids, replayed_ids, strict=True):
        ids.bind(was, now, where)


def match_response(recorded: Exchange, status: int, response: Message, ids: Ids) -> None:
    """Hold one replayed response to the recorded exchange's."""
    where = f"{recorded.method} {recorded.target}"
    if status != recorded.status:
        raise MismatchError(
            f"{where}: status {status}, recorded {recorded.status}: {response.body[:300]!r}"
        )
    for name, value in recorded.response.headers.items():
        if not (name in _READ_HEADERS or name.startswith("fn-")):
            continue
        if name not in response.headers:
            raise MismatchError(f"{where}: no {name} header; recorded {value!r}")
        if name in _READ_HEADERS:
            match_text(value, response.headers[name], ids, f"{where}: header {name}")
    if recorded.response.is_json():
        if not response.is_json():
            raise MismatchError(f"{where}: body is not JSON: {response.body[:300]!r}")
        match(recorded.response.json(), response.json(), ids, f"{where}: body")
    else:
        match_text(
            recorded.response.body.decode(), response.body.decode(errors="replace"), ids, where
        )
