"""Slow clients against a gateway: connections that trickle their headers one
byte at a time, and the latency of normal requests sent meanwhile.

    .venv/bin/python -m tests.slowclients --url http://127.0.0.1:8080 \\
        --connections 200 --seconds 60

runs the full size against a running gateway (``scripts/run-all.sh``):
every trickling connection should be cut off by the header timeout (10 s by
default) with a 408, and ``/publish`` should keep answering meanwhile. It
prints what it saw and exits 1 when a connection outlived ``--seconds``.
Loopback only; every loop is bounded by ``--seconds``.
"""

from __future__ import annotations

import argparse
import selectors
import socket
import sys
import threading
import time
from types import TracebackType
from urllib.parse import urlsplit

import httpx

# Never finished: a header line that goes on for as long as the trickle lasts.
_REQUEST = b"GET /livez HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Trickle: " + b"a" * 4096


class Trickle:
    """``connections`` sockets each sending one more header byte every ``byte_every_s``,
    in a thread of its own, for ``max_s`` at most; what the server did with them."""

    def __init__(
        self, port: int, connections: int, byte_every_s: float = 1.0, max_s: float = 90.0
    ) -> None:
        self.port, self.connections = port, connections
        self.byte_every_s, self.max_s = byte_every_s, max_s
        self.opened = 0
        self.closed_after: list[float] = []  # seconds from open to the server's close
        self.answers: list[int] = []  # the status of whatever the server said first
        self.bodies: list[bytes] = []
        self._stop = threading.Event()
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._run, name="trickle", daemon=True)

    def __enter__(self) -> Trickle:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stop.set()
        self._thread.join(10)

    def wait_all_closed(self, timeout_s: float) -> bool:
        return self._done.wait(timeout_s)

    def _run(self) -> None:
        selector = selectors.DefaultSelector()
        started: dict[socket.socket, float] = {}
        sent: dict[socket.socket, int] = {}
        for _ in range(self.connections):
            conn = socket.create_connection(("127.0.0.1", self.port), timeout=5)
            conn.setblocking(False)
            selector.register(conn, selectors.EVENT_READ)
            started[conn], sent[conn] = time.monotonic(), 0
            self.opened += 1
        deadline = time.monotonic() + self.max_s
        next_byte = time.monotonic()
        try:
            while started and not self._stop.is_set() and time.monotonic() < deadline:
                for key, _ in selector.select(timeout=0.05):
                    conn = key.fileobj
                    assert isinstance(conn, socket.socket)
                    self._closed(conn, started.pop(conn), selector)
                if time.monotonic() >= next_byte:
                    next_byte += self.byte_every_s
                    for conn in list(started):
                        try:
                            conn.send(
                                _REQUEST[
                                    sent[conn] % len(_REQUEST) : sent[conn] % len(_REQUEST) + 1
                                ]
                            )
                            sent[conn] += 1
                        except OSError:
                            pass  # closed meanwhile: the selector reports it
        finally:
            for conn in started:
                selector.unregister(conn)
                conn.close()
            selector.close()
            if not started:
                self._done.set()

    def _closed(
        self, conn: socket.socket, opened_at: float, selector: selectors.BaseSelector
    ) -> None:
        chunks = []
        try:
            while chunk := conn.recv(65536):
                chunks.append(chunk)
        except BlockingIOError:
            pass  # more may come; the status line is what counts
        except OSError:
            pass
        answer = b"".join(chunks)
        if answer or _eof(conn):
            selector.unregister(conn)
            conn.close()
            self.closed_after.append(time.monotonic() - opened_at)
            status = answer.split(b" ", 2)[1] if answer.startswith(b"HTTP/") else b"0"
            self.answers.append(int(status))
            self.bodies.append(answer.partition(b"\r\n\r\n")[2])


def _eof(conn: socket.socket) -> bool:
    try:
        return conn.recv(1, socket.MSG_PEEK) == b""
    except (BlockingIOError, InterruptedError):
        return False
    except OSError:
        return True


def latencies(url: str, seconds: float, json: object | None = None) -> list[float]:
    """Seconds each request took, sent one after another for ``seconds``: GET
    ``url``, or POST ``json`` to it."""
    took = []
    deadline = time.monotonic() + seconds
    with httpx.Client(timeout=10) as client:
        while time.monotonic() < deadline:
            began = time.monotonic()
            answer = client.post(url, json=json) if json is not None else client.get(url)
            took.append(time.monotonic() - began)
            answer.raise_for_status()
    return took


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.slowclients", description=__doc__)
    parser.add_argument("--url", default="http://127.0.0.1:8080")
    parser.add_argument("--connections", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args(argv)
    split = urlsplit(args.url)
    if split.hostname not in ("127.0.0.1", "localhost"):
        parser.error("slow clients go to loopback only")
    event = {"type": "TEMP", "value": 21}
    with Trickle(split.port or 80, args.connections, 1.0, args.seconds + 5) as trickle:
        served = latencies(f"{args.url}/publish", args.seconds, json=event)
        trickle.wait_all_closed(10)
    cut = sorted(trickle.closed_after)
    print(f"{trickle.opened} trickling connections, {len(cut)} cut off by the server")
    if cut:
        print(f"  after {cut[0]:.1f}-{cut[-1]:.1f} s, answers: {sorted(set(trickle.answers))}")
    print(
        f"{len(served)} /publish during them: p50 {sorted(served)[len(served) // 2] * 1000:.1f} ms,"
        f" p99 {p99(served) * 1000:.1f} ms"
    )
    return 0 if len(cut) == trickle.opened else 1


if __name__ == "__main__":
    sys.exit(main())
