"""Fn's API v2 as the fn CLI uses it, over HTTP, against a gateway running the fixture app."""

from __future__ import annotations

import concurrent.futures
import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.registry import app_id, function_id
from infra.ports import free_port
from tests.support import FIXTURE_APP, running

pytestmark = pytest.mark.integration


@contextlib.contextmanager
def start(run_dir: Path, port: int) -> Iterator[httpx.Client]:
    base = f"http://127.0.0.1:{port}"
    env = {"EVENTFN_ROOT": str(FIXTURE_APP), "EVENTFN_RUN_DIR": str(run_dir), "PORT": str(port)}
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client


@pytest.fixture(scope="module")
def api(tmp_path_factory) -> Iterator[httpx.Client]:
    with start(tmp_path_factory.mktemp("fnapi"), free_port()) as client:
        yield client


def ok(response: httpx.Response, status: int = 200) -> Any:
    assert response.status_code == status, response.text
    return response.json() if response.content else None


def app_named(api: httpx.Client, name: str) -> dict[str, Any]:
    """What the fn CLI does to resolve an app: an exact-name list, first item."""
    return ok(api.get("/v2/apps", params={"name": name}))["items"][0]


def test_the_declared_app_resolves_as_the_cli_resolves_it(api):
    app = app_named(api, "fixtures")
    assert app["id"] == app_id("fixtures")
    assert app["config"] == {"FIXTURE_APP": "app-value", "FIXTURE_SHARED": "from-app"}
    fns = ok(api.get("/v2/fns", params={"app_id": app["id"], "name": "echo"}))["items"]
    assert [fn["name"] for fn in fns] == ["echo"]
    echo = fns[0]
    assert echo["id"] == function_id("fixtures", "echo")
    assert echo["image"] == "fixtures/echo:0.0.1"
    assert (echo["memory"], echo["timeout"], echo["idle_timeout"]) == (64, 10, 30)
    endpoint = echo["annotations"]["fnproject.io/fn/invokeEndpoint"]
    assert endpoint == f"{str(api.base_url).rstrip('/')}/invoke/{echo['id']}"
    answer = api.post(endpoint, content="hi", headers={"Content-Type": "text/plain"})
    assert answer.status_code == 200
    assert answer.json()["body"] == "hi"
    assert answer.headers["Fn-Call-Id"]


def test_triggers_list_with_their_endpoints(api):
    app = app_named(api, "fixtures")
    triggers = ok(api.get("/v2/triggers", params={"app_id": app["id"]}))["items"]
    echo = next(t for t in triggers if t["name"] == "echo")
    assert echo["source"] == "/echo"
    assert echo["annotations"]["fnproject.io/trigger/httpEndpoint"].endswith("/t/fixtures/echo")
    assert ok(api.get(f"/v2/triggers/{echo['id']}")) == echo
    missing = api.get("/v2/triggers")
    assert (missing.status_code, missing.json()) == (400, {"message": "Missing App ID on Trigger"})


def test_a_function_created_through_the_api_runs_the_code_its_image_names(api):
    app = ok(api.post("/v2/apps", json={"name": "made", "config": {"FIXTURE_APP": "made-app"}}))
    fn = ok(
        api.post(
            "/v2/fns",
            json={
                "name": "copy",
                "app_id": app["id"],
                "image": "registry.example/team/echo:9.9.9",
                "config": {"FIXTURE_ONLY_HERE": "yes"},
            },
        )
    )
    assert (fn["memory"], fn["timeout"], fn["idle_timeout"]) == (128, 30, 30)
    invoke = fn["annotations"]["fnproject.io/fn/invokeEndpoint"]
    seen = ok(api.post(invoke, content="x"))
    assert seen["env"]["FN_APP_NAME"] == "made"
    assert seen["env"]["FIXTURE_APP"] == "made-app"
    assert seen["env"]["FIXTURE_ONLY_HERE"] == "yes"
    # A changed config reaches the function: its next call runs on a new instance.
    ok(api.put(f"/v2/fns/{fn['id']}", json={"config": {"FIXTURE_ONLY_HERE": "changed"}}))
    again = ok(api.post(invoke, content="x"))
    assert again["env"]["FIXTURE_ONLY_HERE"] == "changed"
    assert again["pid"] != seen["pid"]
    # An HTTP trigger made through the API serves /t/<app>/<source>.
    ok(
        api.post(
            "/v2/triggers",
            json={
                "name": "t",
                "app_id": app["id"],
                "fn_id": fn["id"],
                "type": "http",
                "source": "/hook",
            },
        )
    )
    assert api.post("/t/made/hook", content="y").json()["method"] == "POST"
    ok(api.delete(f"/v2/fns/{fn['id']}"), 204)
    gone = api.post(invoke, content="x")
    assert (gone.status_code, gone.json()) == (404, {"message": "Fn not found"})
    assert api.post("/t/made/hook").status_code == 404
    ok(api.delete(f"/v2/apps/{app['id']}"), 204)


def test_an_image_that_is_not_a_local_function_is_registered_but_cannot_run(api):
    app = ok(api.post("/v2/apps", json={"name": "foreign"}))
    fn = ok(api.post("/v2/fns", json={"name": "x", "app_id": app["id"], "image": "acme/x:1"}))
    answer = api.post(fn["annotations"]["fnproject.io/fn/invokeEndpoint"], content="{}")
    assert answer.status_code == 502
    assert "only the functions under functions/" in answer.json()["message"]
    assert '"acme/x:1"' in answer.json()["message"]
    ok(api.delete(f"/v2/apps/{app['id']}"), 204)


def test_lists_page_by_name_with_a_cursor(api):
    names = [f"page-{i:02d}" for i in range(5)]
    for name in reversed(names):
        ok(api.post("/v2/apps", json={"name": name}))
    seen: list[str] = []
    cursor = ""
    for _ in range(10):
        page = ok(api.get("/v2/apps", params={"per_page": 2, "cursor": cursor}))
        seen += [app["name"] for app in page["items"]]
        cursor = page.get("next_cursor", "")
        if not cursor:
            break
    assert [n for n in seen if n.startswith("page-")] == names
    assert seen == sorted(seen)
    for name in names:
        ok(api.delete(f"/v2/apps/{app_named(api, name)['id']}"), 204)


def test_errors_are_fns_status_and_message(api):
    app = app_named(api, "fixtures")
    cases = [
        (api.post("/v2/apps", json={"name": "fixtures"}), 409, "App already exists"),
        (api.post("/v2/apps", content=b"{nope"), 400, "Invalid JSON"),
        (api.post("/v2/apps", json={"name": "bad name"}), 400, "Invalid app name"),
        (api.get("/v2/apps/NOPE"), 404, "App not found"),
        (api.get("/v2/fns"), 400, "Missing AppID on Fn"),
        (
            api.post("/v2/fns", json={"name": "echo", "app_id": app["id"], "image": "a:1"}),
            409,
            "Fn with specified name already exists",
        ),
        (
            api.post(
                "/v2/fns", json={"name": "m", "app_id": app["id"], "image": "a:1", "memory": 9000}
            ),
            400,
            "memory value is out of range. It should be between 0 and 8192",
        ),
        (
            api.put(f"/v2/apps/{app['id']}", json={"name": "renamed"}),
            409,
            "Could not update - name is immutable",
        ),
        (api.delete("/v2/triggers/NOPE"), 404, "Trigger not found"),
        (api.put("/v2/apps"), 405, "Method not allowed: PUT /v2/apps"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        assert response.json()["message"] == message
    assert ok(api.get("/version")) == {"version": "0.3.753"}
    assert api.get(f"/v2/fns/{function_id('fixtures', 'echo')}/calls").status_code == 410


def test_a_restart_keeps_every_id_and_what_was_made_through_the_api(tmp_path):
    with start(tmp_path, free_port()) as first:
        app = ok(first.post("/v2/apps", json={"name": "kept"}))
        fn = ok(first.post("/v2/fns", json={"name": "e", "app_id": app["id"], "image": "x/echo:1"}))
        made = {"name": "t", "app_id": app["id"], "fn_id": fn["id"], "type": "http", "source": "/t"}
        trigger = ok(first.post("/v2/triggers", json=made))
        before = {
            "apps": ok(first.get("/v2/apps"))["items"],
            "fns": ok(first.get("/v2/fns", params={"app_id": app_id("fixtures")}))["items"],
            "triggers": ok(first.get("/v2/triggers", params={"app_id": app_id("fixtures")})),
        }
    with start(tmp_path, free_port()) as again:
        assert ok(again.get("/v2/apps"))["items"] == before["apps"]
        fns = ok(again.get("/v2/fns", params={"app_id": app_id("fixtures")}))["items"]
        assert [(f["id"], f["created_at"]) for f in fns] == [
            (f["id"], f["created_at"]) for f in before["fns"]
        ]
        triggers = ok(again.get("/v2/triggers", params={"app_id": app_id("fixtures")}))
        assert [t["id"] for t in triggers["items"]] == [
            t["id"] for t in before["triggers"]["items"]
        ]
        assert ok(again.get(f"/v2/triggers/{trigger['id']}"))["source"] == "/t"
        assert ok(again.post(f"/invoke/{fn['id']}", content="still here"))["body"] == "still here"
        assert again.post("/t/kept/t", content="via trigger").json()["body"] == "via trigger"


def test_annotations_nested_too_deep_are_refused_and_lists_keep_working(api):
    deep: Any = "x"
    for _ in range(100):
        deep = [deep]
    answer = api.post("/v2/apps", json={"name": "deep", "annotations": {"k": deep}})
    assert answer.status_code == 400
    assert "nested more than 32 levels" in answer.json()["message"]
    assert ok(api.get("/v2/apps"))["items"]


def test_config_changes_racing_calls_fail_no_call_and_the_last_one_wins(api):
    app = ok(api.post("/v2/apps", json={"name": "racing"}))
    fn = ok(api.post("/v2/fns", json={"name": "r", "app_id": app["id"], "image": "x/echo:1"}))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        calls = [pool.submit(api.post, f"/invoke/{fn['id']}", content="x") for _ in range(6)]
        for n in range(3):
            ok(api.put(f"/v2/fns/{fn['id']}", json={"config": {"FIXTURE_V": str(n)}}))
        answers = [c.result() for c in calls]
    assert {a.status_code for a in answers} == {200}, [
        a.text for a in answers if a.status_code != 200
    ]
    last = ok(api.post(f"/invoke/{fn['id']}", content="x"))
    assert last["env"]["FIXTURE_V"] == "2"
    ok(api.delete(f"/v2/apps/{app['id']}"), 204)
