"""Catalog fixtures: a catalog on a temporary file, with a clock and IDs the test controls."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from gateway.catalog.store import Catalog
from tests.unit.gateway.catalog.helpers import FakeClock, FakeIds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def ids() -> FakeIds:
    return FakeIds()


@pytest.fixture
def path(tmp_path: Path) -> Path:
    return tmp_path / "catalog.db"


@pytest.fixture
def catalog(path: Path, clock: FakeClock, ids: FakeIds) -> Iterator[Catalog]:
    opened = Catalog(path, clock=clock, ids=ids)
    yield opened
    opened.close()


@pytest.fixture
def reopen(path: Path, clock: FakeClock, ids: FakeIds) -> Iterator[Callable[[Catalog], Catalog]]:
    """Close a catalog and open a new one on the same file (closed at teardown)."""
    opened: list[Catalog] = []

    def again(catalog: Catalog) -> Catalog:
        catalog.close()
        opened.append(Catalog(path, clock=clock, ids=ids))
        return opened[-1]

    yield again
    for each in opened:
        each.close()
