"""The generator: publish events over HTTP from a few threads until each one is acknowledged.

Requests are planned up front from the seed: CloudEvents batches
(``application/cloudevents-batch+json``) of 10-50 events, now and then a
single structured event. A request that gets anything but a 2xx is sent again
with the same ids until it gets one (publish is idempotent downstream by
(source, id)), with backoff, so every event is eventually acknowledged unless
the deadline passes first.

Outcomes go to the history: ``ok`` for a 2xx, ``fail`` when the request
certainly did nothing (no connection, a 4xx), ``info`` when it may have (a
timeout, a broken connection, any 5xx: publish answers 503 when Kafka took
only part of a batch).

Publishing is paced (events per second) so that faults land while events
flow, and it waits at *gates*: the nemesis holds one closed until the
component it killed is back, so the next fault comes after fresh progress.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import httpx
import orjson

from tests.faults.events import Key, event_id, structured
from tests.faults.history import FAIL, INFO, INVOKE, OK, History

BATCH = "application/cloudevents-batch+json"
SINGLE = "application/cloudevents+json"
_BACKOFF_FIRST_S = 0.05
_BACKOFF_CAP_S = 2.0
_RETRY_AFTER_CAP_S = 5.0


@dataclass(frozen=True)
class Request:
    """One planned request: which events, from which index of the run, in which form."""

    number: int
    first: int
    keys: tuple[Key, ...]
    batch: bool

    def body(self) -> tuple[bytes, str]:
        events = [structured(key, self.first + i) for i, key in enumerate(self.keys)]
        if self.batch:
            return orjson.dumps(events), BATCH
        return orjson.dumps(events[0]), SINGLE


def plan_requests(
    count: int,
    source: str,
    tag: str,
    rng: random.Random,
    sizes: tuple[int, int] = (10, 50),
    single_share: float = 0.05,
) -> list[Request]:
    """``count`` events in requests of ``sizes`` events, a few of them single events."""
    requests: list[Request] = []
    first = 0
    while first < count:
        batch = rng.random() >= single_share
        size = min(rng.randint(*sizes), count - first) if batch else 1
        keys = tuple((source, event_id(tag, first + i)) for i in range(size))
        requests.append(Request(len(requests), first, keys, batch))
        first += size
    return requests


class Progress:
    """How many events have been acknowledged; others wait on it."""

    def __init__(self) -> None:
        self._acked = 0
        self._closed = False
        self._changed = threading.Condition()

    @property
    def acked(self) -> int:
        with self._changed:
            return self._acked

    def add(self, count: int) -> None:
        with self._changed:
            self._acked += count
            self._changed.notify_all()

    def close(self) -> None:
        """No more events will come: wake every waiter."""
        with self._changed:
            self._closed = True
            self._changed.notify_all()

    def wait_for(self, target: int, timeout: float) -> bool:
        """True once at least ``target`` events are acknowledged; False at the timeout
        or once closed short of it."""
        with self._changed:
            self._changed.wait_for(lambda: self._acked >= target or self._closed, timeout)
            return self._acked >= target


class Gates:
    """Points in the run (event indexes) publishing may not pass until opened."""

    def __init__(self) -> None:
        self._gates: list[tuple[int, threading.Event]] = []

    def add(self, at: int) -> threading.Event:
        gate = threading.Event()
        self._gates.append((at, gate))
        return gate

    def wait(self, index: int, deadline: float) -> bool:
        """Wait for every gate at or before ``index``; False if the deadline came first."""
        for at, gate in self._gates:
            if index >= at and not gate.wait(max(0.0, deadline - time.monotonic())):
                return False
        return True

    def open_all(self) -> None:
        for _, gate in self._gates:
            gate.set()


class Generator:
    """Threads that publish the planned requests, paced, gated and retried."""

    def __init__(
        self,
        url: str,
        requests: Sequence[Request],
        history: History,
        progress: Progress,
        gates: Gates,
        *,
        threads: int = 4,
        rate: float = 0.0,
        deadline_s: float = 600.0,
        timeout_s: float = 30.0,
        seed: int = 0,
    ) -> None:
        self.url = url.rstrip("/") + "/publish"
        self.history = history
        self.progress = progress
        self.gates = gates
        self.rate = rate
        self.timeout_s = timeout_s
        self.stop = threading.Event()
        self.error: str | None = None
        self._requests: Iterator[Request] = iter(requests)
        self._lock = threading.Lock()
        self._next_due = 0.0
        self._deadline = time.monotonic() + deadline_s
        self._threads = [
            threading.Thread(target=self._work, args=(i, random.Random(seed * 1000 + i)))
            for i in range(threads)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def join(self) -> None:
        """Wait for every thread; they end by themselves at the deadline."""
        for thread in self._threads:
            thread.join(max(0.0, self._deadline - time.monotonic()) + self.timeout_s + 5)

    def _take(self) -> Request | None:
        with self._lock:
            return next(self._requests, None)

    def _pace(self, events: int) -> None:
        """Wait for this request's turn at ``rate`` events per second."""
        if self.rate <= 0:
            return
        with self._lock:
            now = time.monotonic()
            due = max(self._next_due, now)
            self._next_due = due + events / self.rate
        self.stop.wait(max(0.0, due - now))

    def _work(self, number: int, rng: random.Random) -> None:
        process = f"gen-{number}"
        try:
            with httpx.Client(timeout=self.timeout_s) as client:
                while not self.stop.is_set() and (request := self._take()) is not None:
                    if not self.gates.wait(request.first, self._deadline):
                        return
                    self._pace(len(request.keys))
                    self._publish(client, process, request, rng)
        except Exception as error:  # a bug of ours: say so, the checker counts what is missing
            self.error = f"{process}: {type(error).__name__}: {error}"

    def _publish(
        self, client: httpx.Client, process: str, request: Request, rng: random.Random
    ) -> None:
        body, content_type = request.body()
        ids = [key[1] for key in request.keys]
        fields = {"request": request.number, "source": request.keys[0][0], "ids": ids}
        attempt = 0
        while not self.stop.is_set() and time.monotonic() < self._deadline:
            attempt += 1
            self.history.record(process, INVOKE, "publish", attempt=attempt, **fields)
            kind, detail, retry_after = self._post(client, body, content_type, ids)
            self.history.record(process, kind, "publish", attempt=attempt, **detail, **fields)
            if kind == OK:
                self.progress.add(len(ids))
                return
            if detail.get("give_up"):
                return
            ceiling = min(_BACKOFF_CAP_S, _BACKOFF_FIRST_S * 2 ** min(attempt - 1, 10))
            delay = max(rng.uniform(ceiling / 2, ceiling), retry_after)
            self.stop.wait(min(delay, max(0.0, self._deadline - time.monotonic())))

    def _post(
        self, client: httpx.Client, body: bytes, content_type: str, ids: list[str]
    ) -> tuple[str, dict[str, object], float]:
        """One attempt: (history type, details, seconds the server asked us to wait)."""
        try:
            response = client.post(self.url, content=body, headers={"Content-Type": content_type})
        except (httpx.ConnectError, httpx.ConnectTimeout) as error:
            return FAIL, {"error": f"{type(error).__name__}: {error}"}, 0.0
        except httpx.HTTPError as error:
            return INFO, {"error": f"{type(error).__name__}: {error}"}, 0.0
        status = response.status_code
        if 200 <= status < 300:
            returned = _returned_ids(response.content)
            if returned != ids:
                return INFO, {"status": status, "error": f"answered ids {returned[:3]}..."}, 0.0
            return OK, {"status": status}, 0.0
        retry_after = _retry_after(response.headers.get("retry-after"))
        if status >= 500:
            return INFO, {"status": status, "error": response.text[:200]}, retry_after
        # A 4xx says our request is wrong: sending it again cannot help.
        give_up = status not in (408, 429)
        detail: dict[str, object] = {"status": status, "error": response.text[:200]}
        if give_up:
            detail["give_up"] = True
        return FAIL, detail, retry_after


def _returned_ids(content: bytes) -> list[str]:
    try:
        document = orjson.loads(content)
    except orjson.JSONDecodeError:
        return []
    ids = document.get("ids") if isinstance(document, dict) else None
    return [str(i) for i in ids] if isinstance(ids, list) else []


def _retry_after(header: str | None) -> float:
    try:
        return 0.0 if header is None else min(_RETRY_AFTER_CAP_S, max(0.0, float(header)))
    except ValueError:
        return 0.0
