"""The runtime: the app's functions, a pool for each, and running a call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from contextlib import ExitStack
from typing import IO

from gateway.errors import GatewayError
from gateway.instance import CallResult
from gateway.metrics import GatewayMetrics
from gateway.pool import FunctionPool
from gateway.registry import App, Function
from gateway.settings import GatewaySettings

log = logging.getLogger("eventfn.gateway")


class Runtime:
    """Starts and stops the pools; every call goes through :meth:`call`."""

    def __init__(self, app: App, settings: GatewaySettings) -> None:
        self.app = app
        self.settings = settings
        self.pools: dict[str, FunctionPool] = {}
        self.metrics = GatewayMetrics(lambda: self.pools.values())
        self._files = ExitStack()
        self._detached: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self.settings.logs_dir.mkdir(parents=True, exist_ok=True)
        socket_root = self.settings.run_dir / "fn"
        for fn in self.app.functions:
            self.pools[fn.id] = FunctionPool(
                fn,
                fdk=self.settings.fdk,
                environ=self.settings.environ,
                functions_path=self.settings.root / "functions",
                socket_root=socket_root,
                log_file=self._open_log(fn),
                min_instances=self.settings.min_instances,
                max_instances=self.settings.max_instances,
                start_timeout_s=self.settings.start_timeout_s,
                shutdown_grace_s=self.settings.shutdown_grace_s,
                retry_after_s=self.settings.retry_after_s,
            )
        await asyncio.gather(*(pool.start() for pool in self.pools.values()))

    def _open_log(self, fn: Function) -> IO[bytes]:
        """The function's log, which its instances' stdout and stderr append to."""
        path = self.settings.logs_dir / f"fn-{fn.name}.log"
        return self._files.enter_context(path.open("ab", buffering=0))

    async def stop(self) -> None:
        if self._detached:
            await asyncio.wait(self._detached, timeout=self.settings.shutdown_grace_s)
        await asyncio.gather(*(pool.close() for pool in self.pools.values()))
        self._files.close()

    @property
    def ready(self) -> bool:
        return all(pool.healthy for pool in self.pools.values())

    async def call(self, fn: Function, headers: list[tuple[str, str]], body: bytes) -> CallResult:
        """Run one call; the outcome is counted whatever it is."""
        try:
            result = await self.pools[fn.id].call(headers, body)
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

    def call_detached(self, fn: Function, headers: list[tuple[str, str]], body: bytes) -> None:
        """Run a call in the background (``Fn-Invoke-Type: detached``)."""

        async def run() -> None:
            with contextlib.suppress(GatewayError):  # counted and logged by call()
                await self.call(fn, headers, body)

        task = asyncio.get_running_loop().create_task(run())
        self._detached.add(task)
        task.add_done_callback(self._detached.discard)
