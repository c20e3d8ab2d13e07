"""A function's pool of hot instances: one call at a time each, started on demand.

Instances are reused while they stay healthy. A call that finds none idle
starts one (a cold start) if the pool is below its maximum, and otherwise waits
for one to come free, up to the function's timeout (then 503, as Fn answers).
An instance that crashes, times out or breaks the contract is replaced.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import os
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from gateway.errors import FunctionFailedError, GatewayError, ServerBusyError
from gateway.instance import CallResult, Instance
from gateway.registry import Function

log = logging.getLogger("eventfn.gateway")

_TICK_S = 0.5
_MAX_BACKOFF_S = 30.0
# What a function process inherits from the gateway besides its own config.
# Instance numbers are unique in the gateway, not per pool: an instance's
# socket directory is named after it, and a function that changed gets a new
# pool while the old one's instances are still stopping.
_NUMBERS = itertools.count(1)
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", "EVENTFN_RUN_DIR")


class FunctionPool:
    """The instances of one function."""

    def __init__(
        self,
        fn: Function,
        *,
        fdk: Path,
        environ: Mapping[str, str],
        functions_path: Path,
        socket_root: Path,
        log_file: IO[bytes],
        min_instances: int,
        max_instances: int,
        start_timeout_s: float,
        shutdown_grace_s: float,
        retry_after_s: int,
    ) -> None:
        self.fn = fn
        self.min_instances = min_instances
        self.max_instances = max(max_instances, 1)
        self.cold_starts = 0
        self.calls_in_flight = 0
        self._fdk = fdk
        self._env = {
            **{k: environ[k] for k in _INHERITED if k in environ},
            "PYTHONPATH": os.pathsep.join([str(functions_path), str(fn.directory)]),
            "PYTHONUNBUFFERED": "1",
            **fn.environment(environ),
        }
        self._socket_root = socket_root
        self._log_file = log_file
        self._start_timeout_s = start_timeout_s
        self._grace_s = shutdown_grace_s
        self._retry_after = str(retry_after_s)
        self._idle: list[Instance] = []
        self._busy: set[Instance] = set()
        self._starting = 0
        self._waiters: deque[asyncio.Future[Instance]] = deque()
        self._failures = 0
        self._next_attempt = 0.0
        self._maintainer: asyncio.Task[None] | None = None
        self._starts_for_waiters: set[asyncio.Task[None]] = set()
        self._stopping: set[asyncio.Task[None]] = set()
        self._closed = False

    @property
    def ready(self) -> int:
        """Instances started and able to take calls (idle or busy)."""
        return len(self._idle) + len(self._busy)

    @property
    def idle(self) -> int:
        return len(self._idle)

    @property
    def starting(self) -> int:
        return self._starting

    @property
    def healthy(self) -> bool:
        return self.ready >= self.min_instances

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Warm the minimum number of instances, then keep the pool in shape."""
        await self._fill_minimum()
        if self._closed:
            return  # retired while warming: nothing to look after
        self._maintainer = asyncio.create_task(self._maintain(), name=f"pool-{self.fn.name}")

    async def call(self, headers: list[tuple[str, str]], body: bytes) -> CallResult:
        """Run one call on an instance of its own."""
        instance = await self._acquire()
        self.calls_in_flight += 1
        try:
            result = await instance.call(headers, body, float(self.fn.timeout))
        except FunctionFailedError:
            self._release(instance)  # the function failed, the instance is fine
            raise
        except BaseException as error:
            # Timeout, crash, bad response or the caller gone mid-call: the
            # connection's state is unknown, so the instance goes.
            self._discard(instance, error)
            raise
        finally:
            self.calls_in_flight -= 1
        self._release(instance)
        return result

    async def close(self) -> None:
        """Stop taking calls and stop every instance."""
        self._closed = True
        background = [*self._starts_for_waiters]
        if self._maintainer is not None:
            background.append(self._maintainer)
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_exception(ServerBusyError(headers={"Retry-After": self._retry_after}))
        instances = [*self._idle, *self._busy]
        self._idle.clear()
        self._busy.clear()
        await asyncio.gather(*(i.stop(self._grace_s) for i in instances), *self._stopping)

    async def retire(self) -> None:
        """Close once the calls under way and queued have run (a function that
        changed or went away): bounded by the function's timeout."""
        deadline = time.monotonic() + self.fn.timeout + self._grace_s
        # A rare event (a function changed or was deleted): polling is enough.
        # An instance still starting is a call's cold start: it is waited for too.
        while (self._busy or self._waiters or self._starting) and time.monotonic() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(_TICK_S / 5)
        await self.close()

    async def _acquire(self) -> Instance:
        if self._closed:
            raise ServerBusyError(headers={"Retry-After": self._retry_after})
        while self._idle:
            instance = self._idle.pop()
            if instance.alive:
                self._busy.add(instance)
                return instance
            self._discard(instance, None)
        # A queue means the pool is full or an instance is already starting
        # for its head: a newcomer waits its turn rather than starting another.
        if not self._waiters and self.ready + self._starting < self.max_instances:
            try:
                instance = await self._spawn(cold=True)
            except GatewayError:
                self._serve_waiters()  # callers may have queued behind this start
                raise
            self._busy.add(instance)
            return instance
        waiter: asyncio.Future[Instance] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        try:
            return await asyncio.wait_for(waiter, float(self.fn.timeout))
        except BaseException as error:
            # Given up (timeout, or the caller went) just as an instance was
            # handed over: it goes back, or it would stay busy for ever.
            if waiter.done() and not waiter.cancelled() and waiter.exception() is None:
                self._release(waiter.result())
            if isinstance(error, TimeoutError):
                raise ServerBusyError(headers={"Retry-After": self._retry_after}) from None
            raise
        finally:
            with contextlib.suppress(ValueError):
                self._waiters.remove(waiter)

    def _release(self, instance: Instance) -> None:
        self._busy.discard(instance)
        if self._closed or not instance.alive:
            self._discard(instance, None)
            return
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                self._busy.add(instance)
                waiter.set_result(instance)
                return
        self._idle.append(instance)

    def _discard(self, instance: Instance, error: BaseException | None) -> None:
        self._busy.discard(instance)
        with contextlib.suppress(ValueError):
            self._idle.remove(instance)
        if error is not None and not isinstance(error, asyncio.CancelledError):
            log.warning("instance %s replaced after: %s", instance.name, error)
        self._stop_later(instance)
        self._serve_waiters()

    def _stop_later(self, instance: Instance) -> None:
        task = asyncio.get_running_loop().create_task(instance.stop(self._grace_s))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _serve_waiters(self) -> None:
        """Room came free: start an instance for each caller still waiting."""
        if self._closed:
            return
        waiting = sum(1 for waiter in self._waiters if not waiter.done())
        waiting -= len(self._starts_for_waiters)
        room = self.max_instances - (self.ready + self._starting)
        for _ in range(min(waiting, room)):
            task = asyncio.get_running_loop().create_task(self._start_for_waiter())
            self._starts_for_waiters.add(task)
            task.add_done_callback(self._starts_for_waiters.discard)

    async def _start_for_waiter(self) -> None:
        try:
            instance = await self._spawn(cold=True)
        except GatewayError as error:
            # The caller at the head gets Fn's start-up error now, not a 503 later.
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(error)
                    break
            return
        self._release(instance)

    async def _spawn(self, cold: bool) -> Instance:
        instance = Instance(self.fn, next(_NUMBERS), self._socket_root)
        self._starting += 1
        began = time.monotonic()
        try:
            await instance.start(self._fdk, self._env, self._log_file, self._start_timeout_s)
        except BaseException as error:
            # Failed or cancelled half-way: never leave the process behind.
            self._stop_later(instance)
            if isinstance(error, GatewayError):
                self._failures += 1
                backoff = min(_MAX_BACKOFF_S, 0.5 * 2**self._failures)
                self._next_attempt = time.monotonic() + backoff
            raise
        finally:
            self._starting -= 1
        self._failures = 0
        if cold:
            self.cold_starts += 1
        log.info(
            "instance %s ready in %.0f ms%s",
            instance.name,
            (time.monotonic() - began) * 1000,
            " (cold start)" if cold else "",
        )
        return instance

    async def _fill_minimum(self) -> None:
        missing = self.min_instances - (self.ready + self._starting)
        if self._closed or missing <= 0 or time.monotonic() < self._next_attempt:
            return
        results = await asyncio.gather(
            *(self._spawn(cold=False) for _ in range(missing)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Instance):
                self._release(result)
            else:
                log.error("function %s did not start: %s", self.fn.name, result)

    async def _maintain(self) -> None:
        while True:
            await asyncio.sleep(_TICK_S)
            try:
                for instance in [i for i in self._idle if not i.alive]:
                    log.warning("instance %s exited while idle; replacing it", instance.name)
                    self._discard(instance, None)
                self._reap_idle()
                await self._fill_minimum()
            except Exception:
                # The pool must keep being looked after whatever one round hit.
                log.exception("pool %s: maintenance failed; trying again", self.fn.name)

    def _reap_idle(self) -> None:
        # Beyond the minimum, an instance idle for longer than the function's
        # idle_timeout is stopped, as Fn does.
        now = time.monotonic()
        surplus = self.ready - self.min_instances
        for instance in sorted(self._idle, key=lambda i: i.last_used):
            if surplus <= 0:
                break
            if now - instance.last_used > self.fn.idle_timeout:
                self._discard(instance, None)
                surplus -= 1
