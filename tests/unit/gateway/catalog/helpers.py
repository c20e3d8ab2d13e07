"""Shared by the catalog tests: Fn's messages, a fake clock and IDs, record makers."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from gateway.catalog.models import AppRecord, FnRecord, TriggerRecord
from gateway.catalog.store import Catalog
from gateway.errors import (
    GatewayError,
)

ROOT = Path(__file__).parents[4]
T0 = datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=UTC)
GO_ZERO_TIME = "0001-01-01T00:00:00.000Z"
BASE = "http://127.0.0.1:8080"

KEY = "Invalid annotation key, annotation keys must be non-empty ascii strings excluding whitespace"
KEY_LENGTH = "Invalid annotation key length, annotation keys may not be larger than 128 bytes"
VALUE = (
    "Invalid annotation value, annotation values may only be non-empty strings, numbers, "
    "objects, or arrays"
)
VALUE_LENGTH = (
    "Invalid annotation value length, annotation values may not be larger than 512 bytes "
    "when serialized as JSON"
)
TOO_MANY = (
    "Invalid annotation change, new key(s) exceed maximum permitted number of annotations "
    "keys (100)"
)


def short(value: object) -> str:
    """A readable test id for a long parameter."""
    text = str(value)
    return text if len(text) <= 40 else f"{text[:37]}..."


class FakeClock:
    """Time that moves only when the test says so."""

    def __init__(self) -> None:
        self.now = T0

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float = 1.0) -> datetime:
        self.now += timedelta(seconds=seconds)
        return self.now


class FakeIds:
    def __init__(self) -> None:
        self.issued = 0

    def __call__(self) -> str:
        self.issued += 1
        return f"ID{self.issued:024d}"


def make_app(catalog: Catalog, name: str = "app", **fields: Any) -> AppRecord:
    return catalog.create_app({"name": name, **fields})


def make_fn(catalog: Catalog, app: AppRecord, name: str = "fn", **fields: Any) -> FnRecord:
    return catalog.create_fn(
        {"app_id": app.id, "name": name, "image": "example/fn:0.0.1", **fields}
    )


def make_trigger(
    catalog: Catalog, fn: FnRecord, name: str = "hook", source: str = "/hook", **fields: Any
) -> TriggerRecord:
    return catalog.create_trigger(
        {"app_id": fn.app_id, "fn_id": fn.id, "name": name, "type": "http", "source": source}
        | fields
    )


def refused(
    kind: type[GatewayError],
    status: int,
    message: str,
    call: Callable[..., Any],
    *args: Any,
    **kwargs: Any,
) -> GatewayError:
    """The error ``call`` raises, checked for its kind, status and exact message."""
    with pytest.raises(kind) as caught:
        call(*args, **kwargs)
    assert caught.value.status == status
    assert caught.value.message == message
    return caught.value
