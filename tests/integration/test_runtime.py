"""The runtime in process, with real fdk instances of the fixture app: what a
call runs when the catalog changes under it, and a pool retired while it warms."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import Awaitable, Callable
from pathlib import Path

import pytest

from gateway.errors import FnNotFoundError
from gateway.pool import FunctionPool
from gateway.registry import load_app
from gateway.runtime import Runtime
from gateway.scaling.config import ClusterDefaults, resolve
from gateway.settings import GatewaySettings
from tests.support import FIXTURE_APP, python_env

pytestmark = pytest.mark.integration


def run_with(tmp_path: Path, scenario: Callable[[Runtime], Awaitable[None]]) -> None:
    settings = GatewaySettings.from_env(python_env({}), root=FIXTURE_APP, run_dir=tmp_path)

    async def main() -> None:
        runtime = Runtime(load_app(FIXTURE_APP), settings)
        await runtime.start()
        try:
            await scenario(runtime)
        finally:
            await runtime.stop()

    asyncio.run(main())


def test_a_call_holding_a_deleted_function_runs_nothing_and_revives_no_pool(tmp_path):
    async def scenario(runtime: Runtime) -> None:
        app = runtime.catalog.create_app({"name": "brief"})
        record = runtime.catalog.create_fn({"name": "e", "app_id": app.id, "image": "x/echo:1"})
        held = runtime.function(record.id)  # as a trigger holds it while reading the body
        runtime.catalog.delete_fn(record.id)
        runtime.retire([record.id])
        with pytest.raises(FnNotFoundError):
            await runtime.call(held, [], b"x")
        assert record.id not in runtime.pools

    run_with(tmp_path, scenario)


def test_a_call_holding_an_old_version_runs_the_function_as_it_is_now(tmp_path):
    async def scenario(runtime: Runtime) -> None:
        app = runtime.catalog.create_app({"name": "versions"})
        doc = {"name": "v", "app_id": app.id, "image": "x/echo:1", "config": {"FIXTURE_V": "1"}}
        record = runtime.catalog.create_fn(doc)
        held = runtime.function(record.id)
        first = json.loads((await runtime.call(held, [], b"x")).body)
        runtime.catalog.update_fn(record.id, {"config": {"FIXTURE_V": "2"}})
        again = json.loads((await runtime.call(held, [], b"x")).body)
        assert (first["env"]["FIXTURE_V"], again["env"]["FIXTURE_V"]) == ("1", "2")
        assert runtime.pools[record.id].fn == runtime.function(record.id)

    run_with(tmp_path, scenario)


def test_a_pool_retired_while_it_warms_stops_its_instance_and_starts_no_more(tmp_path):
    async def scenario(runtime: Runtime) -> None:
        fn = runtime.function(next(iter(runtime.pools)))
        with (tmp_path / "retired.log").open("ab") as log:
            pool = FunctionPool(
                fn,
                scaling=resolve({}, ClusterDefaults()),
                warm=True,
                fdk=runtime.settings.fdk,
                environ=os.environ,
                functions_path=FIXTURE_APP / "functions",
                socket_root=tmp_path / "fn",
                log_file=log,
                start_timeout_s=10,
                shutdown_grace_s=1,
                retry_after_s=1,
            )
            warming = asyncio.create_task(pool.start())
            await asyncio.sleep(0)  # start() is now spawning its instance
            await pool.retire()
            await warming
            assert pool.closed
            assert (pool.ready, pool.starting) == (0, 0)
            assert pool._maintainer is None  # nobody left to start instances again

    run_with(tmp_path, scenario)
