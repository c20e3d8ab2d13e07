"""API keys at the gateway, and what it does to hostile clients: bodies over
the limit, bodies that trickle in, and requests without a key."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from gateway.registry import function_id
from infra.ports import free_port
from infra.waiting import wait_until
from tests.support import FIXTURE_APP, pipeline_env, running

pytestmark = pytest.mark.integration

INGEST = "ingest-secret-7f3a9c2e1b"
BRIDGE = "bridge-secret-5d8e0a4c6f"
ADMIN = "admin-secret-9b1c7e3d2a"
KEYS = f"""
keys:
  - name: ingest
    key: {INGEST}
    scopes: [publish, triggers]
  - name: bridge
    key: {BRIDGE}
    scopes: [invoke]
  - name: admin
    key: {ADMIN}
"""
SECRETS = (INGEST, BRIDGE, ADMIN)
ECHO = f"/invoke/{function_id('fixtures', 'echo')}"


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[httpx.Client]:
    tmp = tmp_path_factory.mktemp("access")
    (tmp / "keys.yaml").write_text(KEYS)
    port = free_port()
    env = {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(tmp),
        "PORT": str(port),
        "EVENTFN_API_KEYS": str(tmp / "keys.yaml"),
        "EVENTFN_READ_TIMEOUT_S": "2",
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", tmp / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client
    log = (tmp / "gateway.log").read_text()
    assert not [secret for secret in SECRETS if secret in log], "a key reached the log"


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", ECHO),
        ("POST", "/invoke/NOSUCHFUNCTION"),  # 401 before saying whether it exists
        ("PUT", "/t/fixtures/echo"),
        ("GET", "/v2/apps"),
        ("POST", "/v2/apps"),
        ("GET", "/metrics"),
    ],
)
def test_without_a_key_every_protected_route_is_401_with_a_json_reason(gateway, method, path):
    response = gateway.request(method, path, content=b"{}")
    assert response.status_code == 401
    assert "API key" in response.json()["message"]
    assert response.headers["www-authenticate"] == 'Bearer realm="eventfn"'
    wrong = gateway.request(method, path, content=b"{}", headers=bearer("not-a-valid-key"))
    assert wrong.status_code == 401
    assert wrong.json() == {"message": "the API key is not valid"}


def test_health_and_what_the_fn_cli_asks_first_stay_open(gateway):
    for path in ("/livez", "/readyz", "/version", "/"):
        assert gateway.get(path).status_code == 200, path


def test_a_key_does_what_its_scopes_allow_and_nothing_else(gateway):
    assert gateway.post(ECHO, content=b"x", headers=bearer(INGEST)).status_code == 403
    denied = gateway.get("/v2/apps", headers=bearer(BRIDGE))
    assert denied.status_code == 403
    assert denied.json() == {"message": 'the API key "bridge" may not use the Fn API'}
    assert gateway.get("/v2/apps", headers=bearer(ADMIN)).status_code == 200
    assert gateway.get("/metrics", headers={"X-Api-Key": ADMIN}).status_code == 200


def test_the_key_never_reaches_the_function(gateway):
    invoked = gateway.post(ECHO, content=b"x", headers=bearer(BRIDGE))
    assert invoked.status_code == 200
    assert not {"authorization", "x-api-key"} & set(invoked.json()["headers"])
    triggered = gateway.put("/t/fixtures/echo", json={}, headers={"X-Api-Key": INGEST})
    assert triggered.status_code == 200
    seen = triggered.json()
    assert not {"authorization", "x-api-key"} & {*seen["headers"], *seen["http_headers"]}


def test_a_body_one_byte_over_6_mib_is_413_declared_or_streamed(gateway):
    limit = 6 * 1024 * 1024
    assert gateway.post(ECHO, content=b"x" * (limit + 1)).status_code == 401  # key first
    declared = gateway.post(ECHO, content=b"x" * (limit + 1), headers=bearer(BRIDGE))
    assert declared.status_code == 413

    def chunks() -> Iterator[bytes]:  # no Content-Length: refused while streaming
        for _ in range(7):
            yield b"x" * (1024 * 1024)

    streamed = gateway.post(ECHO, content=chunks(), headers=bearer(BRIDGE))
    assert streamed.status_code == 413
    assert streamed.json() == {"message": "Request content too large"}


def test_a_body_sent_one_byte_a_second_is_cut_off_by_the_read_timeout(gateway):
    started = time.monotonic()
    answer = b""
    with socket.create_connection((gateway.base_url.host, gateway.base_url.port)) as raw:
        raw.settimeout(10)
        head = f"POST {ECHO} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {BRIDGE}\r\n"
        raw.sendall(f"{head}Content-Length: 100\r\n\r\n".encode())
        with contextlib.suppress(OSError):  # the gateway may close while we still send
            for _ in range(20):
                raw.sendall(b"x")
                if _readable(raw):
                    break
                time.sleep(1)  # the slow client under test, not synchronisation
        with contextlib.suppress(OSError):
            while chunk := raw.recv(65536):
                answer += chunk
    assert answer.startswith(b"HTTP/1.1 408 "), answer[:200]
    assert b"request body not received within 2s" in answer
    assert time.monotonic() - started < 6


def _readable(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return bool(sock.recv(1, socket.MSG_PEEK))
    except BlockingIOError:
        return False
    finally:
        sock.setblocking(True)
        sock.settimeout(10)


def test_with_keys_the_pipeline_runs_on_the_bridge_s_own_key(
    tmp_path: Path, kafka_bootstrap: str, database_url: str
):
    (tmp_path / "keys.yaml").write_text(KEYS)
    port, bridge_port = free_port(), free_port()
    gateway_url = f"http://127.0.0.1:{port}"
    env = {
        **pipeline_env(tmp_path, kafka_bootstrap, database_url, port, bridge_port, ("persist",)),
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"access-{port}-",
        "EVENTFN_API_KEYS": str(tmp_path / "keys.yaml"),
        "EVENTFN_BRIDGE_API_KEY": BRIDGE,
    }
    with (
        running("gateway", env, f"{gateway_url}/readyz", tmp_path / "gateway.log"),
        running(
            "bridge",
            env,
            f"http://127.0.0.1:{bridge_port}/readyz",
            tmp_path / "bridge.log",
        ),
    ):
        event = {"type": "TEMP", "value": "21", "id": f"access-{port}"}
        assert httpx.post(f"{gateway_url}/publish", json=event).status_code == 401
        published = httpx.post(f"{gateway_url}/publish", json=event, headers=bearer(INGEST))
        assert published.status_code == 202

        def stored() -> bool:
            with psycopg.connect(database_url) as conn:
                query = "select count(*) from events where id = %s"
                return conn.execute(query, (event["id"],)).fetchone() == (1,)

        wait_until(stored, timeout=30, what="the event in PostgreSQL")
    logs = (tmp_path / "gateway.log").read_text() + (tmp_path / "bridge.log").read_text()
    assert not [secret for secret in SECRETS if secret in logs]
