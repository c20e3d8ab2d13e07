"""What the Fn API shows of the catalog: Fn's pages (``cursor``, ``per_page``,
``next_cursor``) and the JSON of apps, functions and triggers, with the endpoint
annotations built from the URL the client used. Pure."""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar

from eventcore.cloudevent import format_time
from gateway.catalog.models import AppRecord, FnRecord, Record, TriggerRecord
from gateway.errors import BadRequestError

INVOKE_ENDPOINT = "fnproject.io/fn/invokeEndpoint"
HTTP_ENDPOINT = "fnproject.io/trigger/httpEndpoint"
DEFAULT_PER_PAGE = 30
MAX_PER_PAGE = 100
_CURSOR = re.compile(r"[A-Za-z0-9_-]+")

_R = TypeVar("_R", AppRecord, FnRecord, TriggerRecord)


# -- lists -------------------------------------------------------------------


@dataclass(frozen=True)
class Page:
    """What a list asks for: Fn's ``cursor`` (the last name seen) and ``per_page``."""

    after: str = ""
    per_page: int = DEFAULT_PER_PAGE

    @classmethod
    def from_query(cls, cursor: str, per_page: str) -> Page:
        try:
            size = int(per_page or 0)
        except ValueError:
            size = 0  # Fn ignores a per_page it cannot read
        size = DEFAULT_PER_PAGE if size <= 0 else min(size, MAX_PER_PAGE)
        if not cursor:
            return cls("", size)
        # Fn's cursors are unpadded base64url; anything else is no cursor of ours.
        if not _CURSOR.fullmatch(cursor) or len(cursor) % 4 == 1:
            raise BadRequestError("Invalid cursor", fields="cursor")
        try:
            after = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise BadRequestError("Invalid cursor", fields="cursor") from None
        return cls(after, size)

    def select(self, records: Iterable[_R], keep: Callable[[_R], bool]) -> tuple[list[_R], str]:
        """The page's records by name, and the cursor for the next (only when this one is full)."""
        chosen = sorted(
            (r for r in records if keep(r) and (not self.after or r.name > self.after)),
            key=lambda r: (r.name, r.id),
        )[: self.per_page]
        if len(chosen) < self.per_page:
            return chosen, ""
        cursor = base64.urlsafe_b64encode(chosen[-1].name.encode()).decode().rstrip("=")
        return chosen, cursor


# -- JSON --------------------------------------------------------------------


def app_json(app: AppRecord) -> dict[str, Any]:
    document: dict[str, Any] = {"id": app.id, "name": app.name}
    if app.config:
        document["config"] = dict(app.config)
    if app.annotations:
        document["annotations"] = dict(app.annotations)
    if app.syslog_url:
        document["syslog_url"] = app.syslog_url
    if app.shape:
        document["shape"] = app.shape
    return {**document, **_times(app)}


def fn_json(fn: FnRecord, base_url: str) -> dict[str, Any]:
    """With ``fnproject.io/fn/invokeEndpoint`` built from the URL the client used."""
    annotations = {**fn.annotations, INVOKE_ENDPOINT: f"{base_url}/invoke/{fn.id}"}
    document: dict[str, Any] = {
        "id": fn.id,
        "name": fn.name,
        "app_id": fn.app_id,
        "image": fn.image,
        "memory": fn.memory,
        "timeout": fn.timeout,
        "idle_timeout": fn.idle_timeout,
        "config": dict(fn.config),
        "annotations": annotations,
    }
    if fn.shape:
        document["shape"] = fn.shape
    return {**document, **_times(fn)}


def trigger_json(trigger: TriggerRecord, app_name: str, base_url: str) -> dict[str, Any]:
    """With ``fnproject.io/trigger/httpEndpoint`` for HTTP triggers."""
    annotations = dict(trigger.annotations)
    if trigger.type == "http":
        path = trigger.source.removeprefix("/")
        annotations[HTTP_ENDPOINT] = f"{base_url}/t/{app_name}/{path}"
    document: dict[str, Any] = {
        "id": trigger.id,
        "name": trigger.name,
        "app_id": trigger.app_id,
        "fn_id": trigger.fn_id,
        "type": trigger.type,
        "source": trigger.source,
    }
    if annotations:
        document["annotations"] = annotations
    return {**document, **_times(trigger)}


def _times(record: Record) -> dict[str, str]:
    return {
        "created_at": format_time(record.created_at),
        "updated_at": format_time(record.updated_at),
    }


def page_json(items: list[dict[str, Any]], cursor: str) -> dict[str, Any]:
    return {"items": items, **({"next_cursor": cursor} if cursor else {})}
