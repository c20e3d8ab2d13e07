"""An HTTP load generator for the ingest rows: N concurrent keep-alive
connections, each sending its next request as soon as the last one answered.

aiohttp on uvloop, in this process: far cheaper per request than httpx, so on
a 2-core machine the client takes as little CPU from the server as a Python
client can. A warm-up phase on the same connections runs first and is not
counted; the timed phase stops starting requests at its deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import version

import aiohttp
import uvloop

from bench import cpu

CLIENT = f"aiohttp {version('aiohttp')} on uvloop {version('uvloop')}, keep-alive, one process"
REQUEST_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class LoadResult:
    """What the timed phase saw: answers as expected, the rest, and how long it took."""

    ok: int
    errors: int
    items: int  # events acknowledged: the sum over successful requests
    seconds: float
    latencies: Sequence[float]  # seconds, successful requests only
    statuses: Mapping[str, int] = field(default_factory=dict)
    # Cores each part of the stack used during the timed phase (see cpu.py).
    cpu: Mapping[str, float] = field(default_factory=dict)

    @property
    def rate(self) -> float:
        """Successful requests per second."""
        return self.ok / self.seconds if self.seconds else 0.0

    @property
    def item_rate(self) -> float:
        """Acknowledged items (events) per second."""
        return self.items / self.seconds if self.seconds else 0.0


@dataclass
class _Tally:
    ok: int = 0
    errors: int = 0
    items: int = 0
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[str] = field(default_factory=Counter)
    last_end: float = 0.0


def run_load(
    url: str,
    *,
    concurrency: int,
    seconds: float,
    warmup_seconds: float,
    method: str = "POST",
    bodies: Sequence[bytes] = (b"",),
    items: Sequence[int] | None = None,
    expect: Collection[int] = (200, 202),
    headers: Mapping[str, str] | None = None,
) -> LoadResult:
    """Load ``url`` with ``concurrency`` workers for ``warmup_seconds`` (not counted),
    then ``seconds``. Worker ``w`` sends ``bodies[w], bodies[w + concurrency], ...``
    round the list; ``items[i]`` is how many events body ``i`` carries (1 each by default)."""
    counts = list(items) if items is not None else [1] * len(bodies)
    request_headers = {"Content-Type": "application/json", **(headers or {})}
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(
            _load(
                url,
                method,
                bodies,
                counts,
                set(expect),
                request_headers,
                concurrency,
                seconds,
                warmup_seconds,
            )
        )


async def _load(
    url: str,
    method: str,
    bodies: Sequence[bytes],
    counts: Sequence[int],
    expect: set[int],
    headers: Mapping[str, str],
    concurrency: int,
    seconds: float,
    warmup_seconds: float,
) -> LoadResult:
    connector = aiohttp.TCPConnector(limit=concurrency, limit_per_host=concurrency)
    timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT_S)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, headers=headers, skip_auto_headers=("User-Agent",)
    ) as session:

        async def phase(duration: float) -> tuple[_Tally, float]:
            tally = _Tally()
            start = time.perf_counter()
            deadline = start + duration

            async def worker(index: int) -> None:
                position = index % len(bodies)
                while time.perf_counter() < deadline:
                    body = bodies[position]
                    began = time.perf_counter()
                    try:
                        async with session.request(method, url, data=body or None) as response:
                            await response.read()
                            status = response.status
                    except (aiohttp.ClientError, TimeoutError) as error:
                        tally.errors += 1
                        tally.statuses[type(error).__name__] += 1
                    else:
                        ended = time.perf_counter()
                        tally.statuses[str(status)] += 1
                        if status in expect:
                            tally.ok += 1
                            tally.items += counts[position]
                            tally.latencies.append(ended - began)
                        else:
                            tally.errors += 1
                    tally.last_end = max(tally.last_end, time.perf_counter())
                    position = (position + concurrency) % len(bodies)

            await asyncio.gather(*(worker(i) for i in range(concurrency)))
            return tally, start

        if warmup_seconds > 0:
            await phase(warmup_seconds)
        with cpu.measure() as cores:
            tally, start = await phase(seconds)
    return LoadResult(
        ok=tally.ok,
        errors=tally.errors,
        items=tally.items,
        seconds=max(tally.last_end - start, 1e-9),
        latencies=tally.latencies,
        statuses=dict(tally.statuses),
        cpu=cores,
    )
