"""A function's pool of hot instances, sized by Knative's KPA autoscaler.

Each instance runs one call at a time (the fdk's contract, Knative's
containerConcurrency 1). Every second the pool samples its load (calls under
way or waiting, and calls per second); every tick (2 s, Knative's) the
autoscaler in :mod:`gateway.scaling.kpa` decides how many instances it should
run, and the pool starts or stops instances to match. A call that finds no
instance idle waits for one, up to the function's timeout (then 503, as Fn
answers); a call that finds the function scaled to zero activates it at once
and waits for the instance to start (a cold start). An instance that crashes,
times out or breaks the contract is replaced.
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
from typing import IO, Any

from eventcore.backoff import Backoff
from eventio.settings import RUN_DIR
from gateway.errors import FunctionFailedError, GatewayError, ServerBusyError
from gateway.instance import CallResult, Instance
from gateway.registry import Function
from gateway.scaling.config import ScalingSpec
from gateway.scaling.kpa import Autoscaler, Decision, Lifecycle, Observer
from gateway.scaling.windows import Meter

log = logging.getLogger("eventfn.gateway")

_SAMPLE_S = 1.0  # Knative's bucket: one second
_BACKOFF = Backoff(initial_s=0.5, cap_s=30.0)
# What a function process inherits from the gateway besides its own config.
# Instance numbers are unique in the gateway, not per pool: an instance's
# socket directory is named after it, and a function that changed gets a new
# pool while the old one's instances are still stopping.
_NUMBERS = itertools.count(1)
_INHERITED = ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "TMPDIR", RUN_DIR)


class FunctionPool:
    """The instances of one function."""

    def __init__(
        self,
        fn: Function,
        *,
        scaling: ScalingSpec,
        warm: bool,
        fdk: Path,
        environ: Mapping[str, str],
        functions_path: Path,
        socket_root: Path,
        log_file: IO[bytes],
        start_timeout_s: float,
        shutdown_grace_s: float,
        retry_after_s: int,
    ) -> None:
        """``warm``: start at the initial scale (a deployed function) rather
        than at zero until the first call (one created through the API)."""
        self.fn = fn
        self.scaling = scaling
        self.cold_starts = 0
        now = time.monotonic()
        self._meter = Meter(now)
        self._observer = Observer(scaling)
        self._autoscaler = Autoscaler(scaling)
        self._lifecycle = Lifecycle(scaling, now, initial=warm)
        self.desired = self._lifecycle.want
        self.last_decision: Decision | None = None
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
        # Busy instances to stop when their call ends (the pool is shrinking).
        self._draining = 0
        self._waiters: deque[asyncio.Future[Instance]] = deque()
        self._failures = 0
        self._next_attempt = 0.0
        self._maintainer: asyncio.Task[None] | None = None
        self._starts: set[asyncio.Task[None]] = set()
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
    def calls_in_flight(self) -> int:
        """Calls running or waiting for an instance (what Knative counts as concurrency)."""
        return self._meter.in_flight

    @property
    def min_instances(self) -> int:
        return self._lifecycle.minimum

    @property
    def panicking(self) -> bool:
        return self._autoscaler.panicking

    @property
    def healthy(self) -> bool:
        return self.ready >= self.min_instances

    @property
    def closed(self) -> bool:
        return self._closed

    async def start(self) -> None:
        """Start the initial instances, then keep the pool sized."""
        await self._warm(self.desired)
        if self._closed:
            return  # retired while warming: nothing to look after
        self._maintainer = asyncio.create_task(self._maintain(), name=f"pool-{self.fn.name}")

    async def call(self, headers: list[tuple[str, str]], body: bytes) -> CallResult:
        """Run one call on an instance of its own."""
        self._meter.begin(time.monotonic())
        try:
            instance = await self._acquire()
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
            self._release(instance)
            return result
        finally:
            self._meter.end(time.monotonic())

    def status(self) -> dict[str, Any]:
        """The pool and its autoscaler, as the status endpoint shows them."""
        decision = self.last_decision
        last = None
        if decision is not None:
            seen = decision.observation
            last = {
                "wanted": decision.desired,
                "ready": decision.ready,
                "panic": decision.panicking,
                "observed": {
                    "stable": {"rps": seen.stable_rps, "concurrency": seen.stable_concurrency},
                    "panic": {"rps": seen.panic_rps, "concurrency": seen.panic_concurrency},
                },
                "excessBurstCapacity": decision.excess_burst_capacity,
            }
        return {
            "id": self.fn.id,
            "app": self.fn.app_name,
            "function": self.fn.name,
            "ready": self.ready,
            "idle": self.idle,
            "busy": self.ready - self.idle,
            "starting": self.starting,
            "desired": self.desired,
            "panic": self.panicking,
            "inFlight": self.calls_in_flight,
            "coldStarts": self.cold_starts,
            "lastDecision": last,
            "scaling": self.scaling.document(),
        }

    async def close(self) -> None:
        """Stop taking calls and stop every instance."""
        self._closed = True
        background = [*self._starts]
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
            await asyncio.sleep(0.1)
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
        if self.ready + self._starting == 0:
            # Scaled to zero (or every instance gone): the call is held while
            # the function activates, as Knative's activator holds it.
            self.cold_starts += 1
            before = self.desired
            self.desired = self._lifecycle.activate(time.monotonic())
            if self.desired != before:
                log.info(
                    "autoscaler %s: %d -> %d instances (activated by a call)",
                    self.fn.name,
                    before,
                    self.desired,
                )
            self._grow(max(self.desired, 1))
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
        if self._draining > 0:
            self._draining -= 1
            self._stop_later(instance)
            return
        instance.last_used = time.monotonic()
        self._idle.append(instance)

    def _discard(self, instance: Instance, error: BaseException | None) -> None:
        self._busy.discard(instance)
        with contextlib.suppress(ValueError):
            self._idle.remove(instance)
        if error is not None and not isinstance(error, asyncio.CancelledError):
            log.warning("instance %s replaced after: %s", instance.name, error)
        self._stop_later(instance)
        if self._waiters and not self._closed:
            # Callers are waiting: the lost instance is replaced now, not at the next tick.
            self._grow(max(self.desired, 1))

    def _stop_later(self, instance: Instance) -> None:
        task = asyncio.get_running_loop().create_task(instance.stop(self._grace_s))
        self._stopping.add(task)
        task.add_done_callback(self._stopping.discard)

    def _grow(self, count: int) -> None:
        """Start instances in the background until ``count`` run or start."""
        if self._closed:
            return
        for _ in range(count - (self.ready + self._starting)):
            task = asyncio.get_running_loop().create_task(self._start_one())
            self._starts.add(task)
            task.add_done_callback(self._starts.discard)

    def _shrink(self, count: int) -> None:
        """Stop instances until ``count`` remain: idle ones now (the longest
        idle first), busy ones when their call ends."""
        surplus = self.ready + self._starting - count
        for instance in sorted(self._idle, key=lambda i: i.last_used)[: max(0, surplus)]:
            self._idle.remove(instance)
            self._stop_later(instance)
            surplus -= 1
        self._draining = max(0, min(surplus, len(self._busy)))

    async def _start_one(self) -> None:
        try:
            instance = await self._spawn()
        except GatewayError as error:
            # The caller at the head gets Fn's start-up error now, not a 503 later.
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_exception(error)
                    return
            log.error("function %s: an instance did not start: %s", self.fn.name, error)
            return
        self._release(instance)

    async def _spawn(self) -> Instance:
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
                self._next_attempt = time.monotonic() + _BACKOFF.delay(self._failures + 1)
            raise
        finally:
            self._starting -= 1
        self._failures = 0
        log.info("instance %s ready in %.0f ms", instance.name, (time.monotonic() - began) * 1000)
        return instance

    async def _warm(self, count: int) -> None:
        missing = count - (self.ready + self._starting)
        if self._closed or missing <= 0:
            return
        results = await asyncio.gather(
            *(self._spawn() for _ in range(missing)), return_exceptions=True
        )
        for result in results:
            if isinstance(result, Instance):
                self._release(result)
            else:
                log.error("function %s did not start: %s", self.fn.name, result)

    async def _maintain(self) -> None:
        tick = self.scaling.tick_interval_s
        next_decision = time.monotonic() + tick
        while True:
            await asyncio.sleep(min(_SAMPLE_S, tick))
            try:
                now = time.monotonic()
                for instance in [i for i in self._idle if not i.alive]:
                    log.warning("instance %s exited while idle; replacing it", instance.name)
                    self._discard(instance, None)
                sample = self._meter.sample(now)
                if sample is not None:
                    self._observer.add(sample)
                if now >= next_decision:
                    next_decision = now + tick
                    self._decide(now)
            except Exception:
                # The pool must keep being looked after whatever one round hit.
                log.exception("pool %s: maintenance failed; trying again", self.fn.name)

    def _decide(self, now: float) -> None:
        """One autoscaler tick: decide, say so when it changes anything, apply."""
        seen = self._observer.observe(now)
        decision = self._autoscaler.scale(now, seen, self.ready) if seen else None
        was_panicking = self.last_decision is not None and self.last_decision.panicking
        want = self._lifecycle.apply(now, decision.desired if decision else None, self.ready)
        if decision is not None and (want != self.desired or decision.panicking != was_panicking):
            seen_now = decision.observation
            log.info(
                "autoscaler %s: %d -> %d instances (%s stable %.2f, panic %.2f; target %.2f "
                "per instance; %d ready%s)",
                self.fn.name,
                self.desired,
                want,
                self.scaling.metric,
                seen_now.stable,
                seen_now.panic,
                self.scaling.target,
                self.ready,
                "; panic mode"
                if decision.panicking
                else ("; panic mode over" if was_panicking else ""),
            )
        self.desired = want
        if decision is not None:
            self.last_decision = decision
        current = self.ready + self._starting
        if want > current:
            if now >= self._next_attempt:  # after failed starts, back off
                self._grow(want)
        elif want < current:
            self._shrink(want)
        else:
            self._draining = 0
