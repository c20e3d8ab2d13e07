"""Clients that trickle their headers, or say nothing, against a real gateway.

Hundreds of connections sending one header byte at a time are each cut off by
the header timeout with a JSON 408, and requests from well-behaved clients
go on being answered meanwhile. The timeout is short here (EVENTFN_HEADER_TIMEOUT_S);
scripts/slow-clients.sh runs the issue's full size against the default.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from infra.ports import free_port
from tests.slowclients import Trickle, latencies, p99
from tests.support import FIXTURE_APP, running

pytestmark = pytest.mark.integration

HEADER_TIMEOUT_S = 1.5


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[str]:
    run_dir: Path = tmp_path_factory.mktemp("slow-clients")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(run_dir),
        "PORT": str(port),
        "EVENTFN_HEADER_TIMEOUT_S": str(HEADER_TIMEOUT_S),
        "EVENTFN_KEEP_ALIVE_S": "1",
    }
    with running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"):
        yield base


def test_trickling_headers_are_cut_off_while_others_are_served(gateway):
    port = int(gateway.rsplit(":", 1)[1])
    with Trickle(port, connections=200, byte_every_s=0.5) as trickle:
        served = latencies(f"{gateway}/livez", seconds=HEADER_TIMEOUT_S + 1.0)
        trickle.wait_all_closed(timeout_s=HEADER_TIMEOUT_S + 5.0)
    assert trickle.opened == 200
    assert trickle.closed_after, "no connection was cut off"
    assert len(trickle.closed_after) == 200
    # cut off by the timeout: not before it, and not long after it
    assert min(trickle.closed_after) >= HEADER_TIMEOUT_S - 0.1
    assert max(trickle.closed_after) < HEADER_TIMEOUT_S + 3.0
    assert set(trickle.answers) == {408}
    assert b'"message":"Request headers not received within 1.5s"' in trickle.bodies[0]
    assert len(served) > 10
    print(f"p99 of {len(served)} normal requests during the trickle: {p99(served) * 1000:.1f} ms")
    assert p99(served) < 1.0


def test_a_client_that_sends_nothing_is_cut_off_too(gateway):
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as silent:
        opened = time.monotonic()
        answer = silent.recv(4096)
        waited = time.monotonic() - opened
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert HEADER_TIMEOUT_S - 0.1 <= waited < HEADER_TIMEOUT_S + 2.0


def test_an_idle_keep_alive_connection_is_closed_and_a_busy_one_is_not(gateway):
    with httpx.Client(base_url=gateway) as client:
        for _ in range(3):  # one connection, each request within the keep-alive
            assert client.get("/livez").status_code == 200
    port = int(gateway.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
        idle.sendall(b"GET /livez HTTP/1.1\r\nHost: x\r\n\r\n")
        first = idle.recv(4096)
        assert first.startswith(b"HTTP/1.1 200 ")
        answered = time.monotonic()
        assert idle.recv(4096) == b""  # closed by the server: the keep-alive ran out
        assert 0.9 <= time.monotonic() - answered < 3.0
