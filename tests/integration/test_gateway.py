"""The gateway as Fn's server behaves, with real fdk processes of the fixture app."""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import socket
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import function_id
from infra.ports import free_port
from infra.waiting import wait_until
from tests.support import FIXTURE_APP, metric, running

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def start(tmp: Path, **env: str) -> Iterator[httpx.Client]:
    port = free_port()
    settings = {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(tmp),
        "PORT": str(port),
        **env,
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", settings, f"{base}/readyz", tmp / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        client.log_path = tmp / "gateway.log"  # type: ignore[attr-defined]
        yield client


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[httpx.Client]:
    with start(tmp_path_factory.mktemp("gw"), EVENTFN_MAX_INSTANCES="3") as client:
        yield client


def invoke(client: httpx.Client, fn: str, body: bytes | str, **headers: str) -> httpx.Response:
    return client.post(f"/invoke/{function_id('fixtures', fn)}", content=body, headers=headers)


def test_invoke_passes_body_headers_config_and_fn_context(gateway):
    response = invoke(gateway, "echo", "hello", **{"Content-Type": "text/plain", "X-Thing": "1"})
    assert response.status_code == 200
    seen = response.json()
    assert seen["body"] == "hello"
    assert seen["call_id"] == response.headers["Fn-Call-Id"]
    assert seen["headers"]["x-thing"] == "1"
    assert seen["deadline"].endswith("Z")
    assert seen["env"]["FIXTURE_APP"] == "app-value"
    assert seen["env"]["FIXTURE_SHARED"] == "from-fn"
    assert seen["env"]["FN_FORMAT"] == "http-stream"
    assert seen["env"]["FN_LISTENER"].startswith("unix:/")
    assert seen["env"]["FN_FN_ID"] == function_id("fixtures", "echo")
    assert response.headers["fn-fdk-version"].startswith("fdk-python/")


def test_trigger_rewrites_headers_both_ways(gateway):
    response = gateway.put(
        "/t/fixtures/echo?x=1",
        json={"status": 201, "headers": {"X-Answer": "42"}},
        headers={"X-Custom": "abc"},
    )
    assert response.status_code == 201
    assert response.headers["x-answer"] == "42"
    assert "fn-fdk-version" not in response.headers
    seen = response.json()
    assert seen["method"] == "PUT"
    assert seen["url"].endswith("/t/fixtures/echo?x=1")
    assert seen["http_headers"]["x-custom"] == "abc"
    assert seen["headers"]["fn-intent"] == "httprequest"


def test_instances_stay_hot_and_are_reused(gateway):
    first = invoke(gateway, "behave", '{"action":"ok"}').json()["pid"]
    assert invoke(gateway, "behave", '{"action":"ok"}').json()["pid"] == first


def test_a_failing_function_gets_502_and_keeps_its_instance(gateway):
    before = invoke(gateway, "behave", '{"action":"ok"}').json()["pid"]
    response = invoke(gateway, "behave", '{"action":"fail"}')
    assert response.status_code == 502
    assert response.json() == {"message": "function failed"}
    assert "Fn-Call-Id" in response.headers
    assert invoke(gateway, "behave", '{"action":"ok"}').json()["pid"] == before


def test_a_timeout_gets_504_and_a_fresh_instance(gateway):
    before = invoke(gateway, "behave", '{"action":"ok"}').json()["pid"]
    response = invoke(gateway, "behave", '{"action":"sleep","seconds":30}')
    assert response.status_code == 504
    assert response.json() == {"message": "Timed out"}
    after = invoke(gateway, "behave", '{"action":"ok"}')
    assert after.status_code == 200
    assert after.json()["pid"] != before


def test_a_crash_gets_502_and_the_instance_is_replaced(gateway):
    before = invoke(gateway, "behave", '{"action":"ok"}').json()["pid"]
    response = invoke(gateway, "behave", '{"action":"crash"}')
    assert response.status_code == 502
    assert response.json() == {"message": "error receiving function response"}
    after = invoke(gateway, "behave", '{"action":"ok"}')
    assert after.status_code == 200
    assert after.json()["pid"] != before


def test_a_function_that_cannot_load_gets_502_not_a_hang(gateway):
    response = invoke(gateway, "badinit", "{}")
    assert response.status_code == 502
    assert "message" in response.json()


def test_one_call_at_a_time_per_instance(gateway):
    body = '{"action":"sleep","seconds":0.5}'
    with concurrent.futures.ThreadPoolExecutor(3) as pool:
        answers = list(pool.map(lambda _: invoke(gateway, "behave", body), range(3)))
    assert [a.status_code for a in answers] == [200, 200, 200]
    # The autoscaler may run them on one instance or several, never two at once on one.
    runs = sorted((a.json()["pid"], a.json()["started"], a.json()["ended"]) for a in answers)
    for (pid, _, ended), (next_pid, started, _) in itertools.pairwise(runs):
        assert pid != next_pid or started >= ended


@pytest.mark.parametrize(
    ("method", "path", "status", "message"),
    [
        ("POST", "/invoke/NOSUCHFUNCTION", 404, "Fn not found"),
        ("GET", "/invoke/x", 405, "Method not allowed: GET /invoke/x"),
        ("POST", "/t/fixtures/nope", 404, "Trigger not found"),
        ("POST", "/t/otherapp/echo", 404, "App not found"),
        ("GET", "/nowhere", 404, "Path not found: GET /nowhere"),
    ],
)
def test_unknown_things_get_clear_json_4xx(gateway, method, path, status, message):
    response = gateway.request(method, path)
    assert response.status_code == status
    assert response.json() == {"message": message}


def test_bodies_over_6_mib_get_413_and_6_mib_passes(gateway):
    limit = 6 * 1024 * 1024
    over = invoke(gateway, "echo", b"x" * (limit + 1))
    assert over.status_code == 413
    assert over.json() == {"message": "Request content too large"}
    assert invoke(gateway, "echo", b"x" * limit).status_code == 200


def test_detached_call_answers_202_at_once_and_runs(gateway):
    def calls() -> float:
        text = gateway.get("/metrics").text
        return metric(text, "eventfn_function_calls_total", function="echo", status="200")

    before = calls()
    response = invoke(gateway, "echo", "later", **{"Fn-Invoke-Type": "detached"})
    assert response.status_code == 202
    assert response.headers["Fn-Call-Id"]
    wait_until(lambda: calls() > before, timeout=10, what="the detached call to run")


def test_health_and_metrics(gateway):
    assert gateway.get("/livez").json() == {"status": "ok"}
    ready = gateway.get("/readyz").json()
    assert ready["status"] == "ready"
    assert set(ready["functions"]) == {"echo", "behave", "badinit", "flaky", "patient"}
    invoke(gateway, "echo", "x")
    text = gateway.get("/metrics").text
    assert metric(text, "eventfn_function_calls_total", function="echo", status="200") >= 1
    assert metric(text, "eventfn_function_instances", function="echo", state="idle") >= 1


def test_no_free_instance_in_time_gets_503_with_retry_after(tmp_path):
    with start(tmp_path, EVENTFN_MAX_INSTANCES="1") as client:
        # patient's timeout is 4 s. The first call holds the only instance for
        # 2.5 s; one waiter gets it then and holds it until 5 s; the other has
        # waited its 4 s by then and is told the server is busy.
        body = '{"seconds": 2.5}'
        with concurrent.futures.ThreadPoolExecutor(3) as pool:
            first = pool.submit(invoke, client, "patient", body)
            wait_until(
                lambda: in_flight(client, "patient") == 1, timeout=10, what="the first call to run"
            )
            others = [pool.submit(invoke, client, "patient", body) for _ in range(2)]
            answers = [first.result(), *(f.result() for f in others)]
        assert sorted(a.status_code for a in answers) == [200, 200, 503]
        (busy,) = [a for a in answers if a.status_code == 503]
        assert busy.json() == {"message": "Timed out - server too busy"}
        assert busy.headers["Retry-After"] == "1"


def test_a_waiting_call_gets_the_room_a_crashed_instance_leaves(tmp_path):
    # At most one instance: nothing but the discard itself can make room for the waiter.
    with (
        start(tmp_path, EVENTFN_MAX_INSTANCES="1") as client,
        concurrent.futures.ThreadPoolExecutor(2) as pool,
    ):
        doomed = pool.submit(invoke, client, "behave", '{"action":"crash","seconds":0.5}')
        wait_until(
            lambda: in_flight(client, "behave") == 1, timeout=10, what="the first call to run"
        )
        waiting = pool.submit(invoke, client, "behave", '{"action":"ok"}')
        assert doomed.result().status_code == 502
        assert waiting.result().status_code == 200


def test_a_function_may_answer_204_but_not_a_1xx(gateway):
    empty = gateway.post("/t/fixtures/echo", json={"status": 204})
    assert (empty.status_code, empty.content) == (204, b"")
    assert gateway.post("/t/fixtures/echo", json={"status": 101}).status_code == 200


def test_a_client_that_hangs_up_mid_body_leaves_no_traceback(gateway):
    target = f"/invoke/{function_id('fixtures', 'echo')}"
    with socket.create_connection((gateway.base_url.host, gateway.base_url.port)) as raw:
        raw.sendall(f"POST {target} HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc".encode())
    assert invoke(gateway, "echo", "still here").status_code == 200
    assert "Traceback" not in gateway.log_path.read_text()  # type: ignore[attr-defined]


def in_flight(client: httpx.Client, function: str) -> float:
    text = client.get("/metrics").text
    return metric(text, "eventfn_function_calls_in_flight", function=function)
