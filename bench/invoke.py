"""Row 6: invocation overhead. An empty batch through the gateway's
``POST /invoke/{id}`` against the same call made straight on a function
instance's socket, as the gateway makes it (Fn's http-stream contract:
``POST /call`` with ``Fn-Call-Id`` and ``Fn-Deadline``).

An empty batch makes persist ping PostgreSQL, the same work either way, so
the difference is the gateway. Both sides use the same client (the standard
library's keep-alive ``http.client``, over TCP and over the Unix socket), so
the client's own cost cancels out. Calls alternate, one gateway call and one
direct call, so a noisy neighbour on the machine hits both sides alike.
"""

from __future__ import annotations

import http.client
import re
import socket
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit

from bench import cpu
from bench.report import Row, Target
from bench.sizes import Size
from bench.stack import Stack
from bench.stats import percentile
from eventcore.cloudevent import BATCH, format_time
from gateway.ids import new_id
from gateway.instance import SOCKET_NAME

FUNCTION = "persist"
EMPTY_BATCH = b"[]"
TARGET_OVERHEAD_MS = 1.0
CALL_TIMEOUT_S = 10.0
_INSTANCE_DIR = re.compile(r"-(\d+)$")


class UnixHTTPConnection(http.client.HTTPConnection):
    """``http.client`` over a Unix socket: the same client code as over TCP."""

    def __init__(self, path: Path, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        sock.connect(str(self._path))
        self.sock = sock


# --- pure helpers -----------------------------------------------------------


def newest_instance(sockets: Sequence[Path]) -> Path | None:
    """Of ``<run>/fn/<function>-<n>/lsnr.sock`` paths, the highest-numbered
    instance's: the one least likely to be the next the autoscaler retires."""
    numbered = [
        (int(match.group(1)), path)
        for path in sockets
        if (match := _INSTANCE_DIR.search(path.parent.name)) is not None
    ]
    return max(numbered)[1] if numbered else None


def warmup_pairs(calls: int) -> int:
    """Pairs run first and not counted (connections opened, caches filled): a
    tenth of the timed calls, at least 20."""
    return max(20, calls // 10)


def paired_differences(slow: Sequence[float], fast: Sequence[float]) -> list[float]:
    """Each pair's difference (calls made one after the other)."""
    return [a - b for a, b in zip(slow, fast, strict=True)]


# --- I/O ----------------------------------------------------------------------


def instance_socket(run_dir: Path, name: str) -> Path:
    """The socket of a live instance of function ``name`` in the gateway's run dir."""
    found = newest_instance(
        [path for path in (run_dir / "fn").glob(f"{name}-*/{SOCKET_NAME}") if path.exists()]
    )
    if found is None:
        raise FileNotFoundError(f"no live {name} instance socket under {run_dir / 'fn'}")
    return found


def _timed(connection: http.client.HTTPConnection, path: str, headers: dict[str, str]) -> float:
    """ms for one call, which must answer 200."""
    began = time.perf_counter()
    connection.request("POST", path, body=EMPTY_BATCH, headers=headers)
    response = connection.getresponse()
    body = response.read()
    elapsed = (time.perf_counter() - began) * 1000
    if response.status != 200:
        raise RuntimeError(f"POST {path}: {response.status} {body[:300]!r}")
    return elapsed


def _fn_headers() -> dict[str, str]:
    deadline = datetime.now(UTC) + timedelta(seconds=60)
    return {"Content-Type": BATCH, "Fn-Call-Id": new_id(), "Fn-Deadline": format_time(deadline)}


def measure(
    gateway_url: str, fn_id: str, find_socket: Callable[[], Path], calls: int, warmup: int
) -> tuple[list[float], list[float], int]:
    """Alternating gateway and direct calls: their times (ms), after ``warmup``
    pairs; and how often the direct instance went away and another was taken."""
    parts = urlsplit(gateway_url)
    gateway = http.client.HTTPConnection(parts.hostname or "127.0.0.1", parts.port, CALL_TIMEOUT_S)
    direct = UnixHTTPConnection(find_socket(), CALL_TIMEOUT_S)
    path = f"/invoke/{fn_id}"
    through: list[float] = []
    straight: list[float] = []
    switches = 0
    try:
        while len(straight) < calls + warmup:
            via_gateway = _timed(gateway, path, {"Content-Type": BATCH})
            try:
                via_socket = _timed(direct, "/call", _fn_headers())
            except (ConnectionError, FileNotFoundError, http.client.HTTPException):
                # The autoscaler retired that instance: take a live one, and
                # measure this pair again.
                direct.close()
                direct = UnixHTTPConnection(find_socket(), CALL_TIMEOUT_S)
                switches += 1
                if switches > 3:
                    raise
                continue
            through.append(via_gateway)
            straight.append(via_socket)
    finally:
        gateway.close()
        direct.close()
    return through[warmup:], straight[warmup:], switches


# --- the rows -----------------------------------------------------------------


def run(stack: Stack, size: Size, payload: list[bytes]) -> list[Row]:
    del payload  # an empty batch is the point
    warmup = warmup_pairs(size.invoke_calls)
    instances = stack.instances(FUNCTION)
    with cpu.measure() as cores:
        through, straight, switches = measure(
            stack.gateway_url,
            stack.fn_id(FUNCTION),
            lambda: instance_socket(stack.run_dir, FUNCTION),
            size.invoke_calls,
            warmup,
        )
    found = rows(size, through, straight, switches, instances, dict(stack.autoscaler))
    return [replace(row, settings={**row.settings, "cpu_cores": cores}) for row in found]


def rows(
    size: Size,
    through: Sequence[float],
    straight: Sequence[float],
    switches: int,
    instances: int,
    autoscaler: dict[str, str],
) -> list[Row]:
    """6a (p50s, with the target) and 6b (p99s)."""
    g50, g99 = percentile(through, 50), percentile(through, 99)
    d50, d99 = percentile(straight, 50), percentile(straight, 99)
    overhead = g50 - d50
    settings = {
        "function": FUNCTION,
        "body": "[] as application/cloudevents-batch+json (persist pings PostgreSQL)",
        "calls": size.invoke_calls,
        "warmup_pairs": warmup_pairs(size.invoke_calls),
        "order": "sequential, gateway and direct calls alternating",
        "client": "http.client keep-alive, TCP to the gateway, Unix socket to the instance",
        "direct": "POST /call on <run>/fn/persist-<n>/lsnr.sock, Fn-Call-Id and Fn-Deadline",
        "instances_at_start": instances,
        "instance_switches": switches,
        "autoscaler": autoscaler,
    }
    # The difference call by call (pairs ran back to back), beside the
    # difference of the percentiles.
    differences = paired_differences(through, straight)
    p50_detail = {"overhead_p50_ms": overhead, "paired_p50_ms": percentile(differences, 50)}
    p99_detail = {"overhead_p99_ms": g99 - d99, "paired_p99_ms": percentile(differences, 99)}
    return [
        Row(
            key="6a",
            name=f"Invocation p50, empty batch: /invoke vs the instance socket "
            f"(overhead {overhead:+.2f} ms)",
            figure=g50,
            unit="ms",
            limit_name="direct call p50",
            limit=d50,
            lower_is_better=True,
            targets=(Target("overhead p50 ≤ 1 ms", overhead <= TARGET_OVERHEAD_MS),),
            settings=settings,
            detail=p50_detail,
        ),
        Row(
            key="6b",
            name=f"Invocation p99, empty batch: /invoke vs the instance socket "
            f"(overhead {g99 - d99:+.2f} ms)",
            figure=g99,
            unit="ms",
            limit_name="direct call p99",
            limit=d99,
            lower_is_better=True,
            settings=settings,
            detail=p99_detail,
        ),
    ]
