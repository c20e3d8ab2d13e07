"""The runtime: the catalog of functions, a pool of instances for each that runs, and a call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Coroutine
from contextlib import ExitStack, closing
from pathlib import Path
from typing import IO, Any

from gateway.catalog.models import AppRecord, FnRecord
from gateway.catalog.store import Catalog
from gateway.errors import GatewayError, ImageNotLocalError, InitFailedError, ServerBusyError
from gateway.instance import CallResult
from gateway.metrics import GatewayMetrics
from gateway.pool import FunctionPool
from gateway.registry import DeclaredApp, Function
from gateway.scaling.config import ClusterDefaults, ScalingConfigError, ScalingSpec, resolve
from gateway.settings import GatewaySettings

log = logging.getLogger("eventfn.gateway")


class Runtime:
    """The catalog, a pool for each function that runs, and running a call."""

    def __init__(self, declared: DeclaredApp, settings: GatewaySettings) -> None:
        self.declared = declared
        self.settings = settings
        self.pools: dict[str, FunctionPool] = {}
        self.autoscaler_defaults: ClusterDefaults = settings.autoscaler_defaults()
        self.metrics = GatewayMetrics(lambda: self.pools.values())
        self._catalog: Catalog | None = None
        self._declared_ids: frozenset[str] = frozenset()
        self._started = False
        self._functions: dict[str, tuple[FnRecord, AppRecord, Function]] = {}
        self._logs: dict[Path, IO[bytes]] = {}
        self._files = ExitStack()
        self._background: set[asyncio.Task[None]] = set()

    @property
    def catalog(self) -> Catalog:
        if self._catalog is None:
            raise RuntimeError("the runtime has not started")
        return self._catalog

    async def start(self) -> None:
        """Deploy the declared app into the catalog and warm its functions."""
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        self._catalog = self._files.enter_context(closing(Catalog(self.settings.catalog_path)))
        self._declared_ids = frozenset(self.catalog.deploy(self.declared).values())
        for fn_id in sorted(self._declared_ids):
            await self._pool(self.function(fn_id))
        self._started = True

    async def stop(self) -> None:
        if self._background:
            await asyncio.wait(self._background, timeout=self.settings.shutdown_grace_s)
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        self._files.close()

    @property
    def ready(self) -> bool:
        """Started, and every declared function still in the catalog has its warm
        instances (API-created ones start on demand)."""
        declared = [pool for pool in self.pools.values() if pool.fn.id in self._declared_ids]
        return self._started and all(pool.healthy for pool in declared)

    def function(self, fn_id: str) -> Function:
        """What runs for ``fn_id``: its catalog entry, its app's config, and the
        repository code its image names (Fn's 404 if it does not exist)."""
        record = self.catalog.fn(fn_id)
        app = self.catalog.app(record.app_id)
        cached = self._functions.get(fn_id)
        if cached is not None and cached[0] is record and cached[1] is app:
            return cached[2]
        code = self.declared.code_for(record.image)
        if code is None:
            raise ImageNotLocalError(
                f'image "{record.image}" is not a function of this repository: the local '
                "runtime runs only the functions under functions/ (an image such as "
                f"{self.declared.name}/<function>:<version>, from any registry)"
            )
        fn = Function(
            id=record.id,
            name=record.name,
            app_id=app.id,
            app_name=app.name,
            image=record.image,
            code=code,
            memory=record.memory,
            timeout=record.timeout,
            idle_timeout=record.idle_timeout,
            config={**app.config, **record.config},
            annotations=record.annotations,
            # The declared app's functions log to fn-<name>.log; others name
            # their app too. An app name has no dot, so no two collide.
            log_name=(
                f"fn-{record.name}.log"
                if app.name == self.declared.name and "." not in record.name
                else f"fn-{app.name}.{record.name}.log"
            ),
        )
        self._functions[fn_id] = (record, app, fn)
        return fn

    async def call(self, fn: Function, headers: list[tuple[str, str]], body: bytes) -> CallResult:
        """Run one call on the function as the catalog has it now; the outcome
        is counted whatever it is."""
        try:
            result = await self._call(fn.id, headers, body)
        except GatewayError as error:
            self.metrics.calls.labels(fn.name, str(error.status)).inc()
            log.warning(
                "call to %s failed: %s %s %s",
                fn.name,
                error.status,
                error.message,
                error.detail[:500].decode(errors="replace"),
            )
            raise
        self.metrics.calls.labels(fn.name, "200").inc()
        self.metrics.call_seconds.labels(fn.name).observe(result.duration_s)
        return result

    async def _call(self, fn_id: str, headers: list[tuple[str, str]], body: bytes) -> CallResult:
        # Looked up again: the function may have changed, or gone, while the
        # request was read.
        pool = await self._pool(self.function(fn_id))
        try:
            return await pool.call(headers, body)
        except ServerBusyError:
            if not pool.closed:
                raise
        # Its pool retired just as the call reached it (the function changed
        # again): the call goes to the new one.
        pool = await self._pool(self.function(fn_id))
        return await pool.call(headers, body)

    def call_detached(self, fn: Function, headers: list[tuple[str, str]], body: bytes) -> None:
        """Run a call in the background (``Fn-Invoke-Type: detached``)."""

        async def run() -> None:
            with contextlib.suppress(GatewayError):  # counted and logged by call()
                await self.call(fn, headers, body)

        self._in_background(run())

    def retire(self, fn_ids: list[str]) -> None:
        """Functions removed from the catalog: their instances stop once idle."""
        for fn_id in fn_ids:
            self._functions.pop(fn_id, None)
            pool = self.pools.pop(fn_id, None)
            if pool is not None:
                self._in_background(pool.retire())

    def changed(self, fn_ids: list[str]) -> None:
        """Functions updated in the catalog: those running get their new pool
        now (a new revision, in Knative's terms), not at their next call."""

        async def roll(fn_id: str) -> None:
            try:
                await self._pool(self.function(fn_id))
            except GatewayError as error:
                log.warning("function %s: its new instances did not start: %s", fn_id, error)

        for fn_id in fn_ids:
            if fn_id in self.pools:
                self._in_background(roll(fn_id))

    async def _pool(self, fn: Function) -> FunctionPool:
        """The pool running ``fn`` (as :meth:`function` gives it now); a function
        whose image, config or resources changed gets a new pool, and the old
        one retires."""
        pool = self.pools.get(fn.id)
        if pool is not None and pool.fn == fn:
            return pool
        if pool is not None:
            log.info("function %s changed; new instances take its calls", fn.name)
            self._in_background(pool.retire())
        # Declared functions start at their initial scale, as a deployed
        # Knative revision does; the ones created through the API start on
        # their first call, as on Fn. Both then scale as their annotations say.
        pool = FunctionPool(
            fn,
            scaling=self._scaling(fn),
            warm=fn.id in self._declared_ids,
            fdk=self.settings.fdk,
            environ=self.settings.environ,
            functions_path=self.settings.root / "functions",
            socket_root=self.settings.run_path / "fn",
            log_file=self._log(fn),
            start_timeout_s=self.settings.start_timeout_s,
            shutdown_grace_s=self.settings.shutdown_grace_s,
            retry_after_s=self.settings.retry_after_s,
        )
        self.pools[fn.id] = pool  # before awaiting, so concurrent calls share it
        await pool.start()
        return pool

    def _scaling(self, fn: Function) -> ScalingSpec:
        try:
            return resolve(fn.annotations, self.autoscaler_defaults)
        except ScalingConfigError as error:
            # Valid alone (the catalog checked) but not under this gateway's
            # defaults, e.g. above its max-scale-limit.
            raise InitFailedError(f"function {fn.name}: {error}") from None

    def _log(self, fn: Function) -> IO[bytes]:
        """The function's log, which its instances' stdout and stderr append to:
        the gateway's own stdout in single-function mode, where the container's
        output is what the platform collects (``kubectl logs``)."""
        if self.settings.function:
            return sys.stdout.buffer
        path = self.settings.logs_dir / fn.log_name
        if path not in self._logs:
            self._logs[path] = self._files.enter_context(path.open("ab", buffering=0))
        return self._logs[path]

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)
