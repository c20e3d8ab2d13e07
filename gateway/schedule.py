"""The pings a function asks for (``eventfn.io/ping-schedule``): the gateway
plays Knative's PingSource, sending the function a ``dev.knative.sources.ping``
CloudEvent in binary mode every so often, as one more call."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime

from eventcore.http_binding import to_binary
from eventcore.schedule import ANNOTATION, every, ping
from gateway.calls import call_headers
from gateway.errors import GatewayError
from gateway.ids import new_id
from gateway.registry import DeclaredFunction, function_id
from gateway.runtime import Runtime

log = logging.getLogger("eventfn.gateway")


def interval(fn: DeclaredFunction) -> float | None:
    """Seconds between ``fn``'s pings (its func.yaml's schedule was checked when
    it was read), None when it asks for none."""
    schedule = fn.annotations.get(ANNOTATION)
    return None if schedule is None else every(str(schedule))


class Pings:
    """A task per function with a schedule, from start to stop."""

    def __init__(self, runtime: Runtime) -> None:
        self._runtime = runtime
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        if self._runtime.settings.function is not None:
            return  # one function of a Knative Service: a PingSource pings it there
        app = self._runtime.declared
        for fn in app.functions:
            seconds = interval(fn)
            if seconds is not None:
                fn_id = function_id(app.name, fn.name)
                source = f"/apis/v1/namespaces/{app.name}/pingsources/{fn.name}"
                loop = asyncio.get_running_loop()
                self._tasks.append(loop.create_task(self._run(fn_id, source, seconds)))
                log.info("pinging %s every %gs", fn.name, seconds)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _run(self, fn_id: str, source: str, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        due = loop.time()
        while True:
            # A fixed rate, as cron keeps it: a slow call does not push the next one back.
            due = max(due + seconds, loop.time())
            await asyncio.sleep(due - loop.time())
            try:
                fn = self._runtime.function(fn_id)
            except GatewayError:
                continue  # deleted through the Fn API: nothing to ping until it is back
            headers, body = to_binary(ping(source, new_id(), datetime.now(UTC)))
            forwarded = [*headers.items(), *call_headers(fn, new_id())]
            with contextlib.suppress(GatewayError):  # counted and logged by call()
                await self._runtime.call(fn, forwarded, body)
