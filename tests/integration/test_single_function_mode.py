"""Single-function mode, as Knative runs each function's image: one gateway per
function on $PORT, that function at every path, real fdk, Kafka and PostgreSQL."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson
import pytest
from cloudevents.core.bindings import http, kafka

from infra.ports import free_port
from infra.waiting import wait_until
from tests.support import ROOT, header, python_env, read_topic, running

pytestmark = pytest.mark.integration

INGEST = "ingest-secret-3c9e7a1f5b"
BRIDGE = "bridge-secret-8d2f6b0e4a"
WATCHER = "watcher-secret-1a7c5e9b3d"
KEYS = f"""
keys:
  - {{name: ingest, key: {INGEST}, scopes: [publish]}}
  - {{name: bridge, key: {BRIDGE}, scopes: [invoke]}}
  - {{name: watcher, key: {WATCHER}, scopes: [metrics]}}
"""


def single_env(function: str, run_dir: Path, port: int, **extra: str) -> dict[str, str]:
    return {
        "EVENTFN_ROOT": str(ROOT),
        "EVENTFN_RUN_DIR": str(run_dir),
        "EVENTFN_FUNCTION": function,
        "PORT": str(port),
        **extra,
    }


@pytest.fixture(scope="module")
def publish(tmp_path_factory, kafka_bootstrap) -> Iterator[httpx.Client]:
    """The publish function's Knative Service, as its container runs it."""
    run_dir = tmp_path_factory.mktemp("single-publish")
    port = free_port()
    env = single_env("publish", run_dir, port, KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap)
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client


def published_ids(kafka_bootstrap: str, ids: set[str]) -> set[str]:
    """Which of ``ids`` are on the events topic (waits until all are)."""
    wanted = {i.encode() for i in ids}
    messages = read_topic(
        kafka_bootstrap,
        "events",
        lambda ms: wanted <= {header(m, "ce_id") for m in ms},
    )
    return {h.decode() for m in messages if (h := header(m, "ce_id")) in wanted}


def test_post_publish_and_post_root_both_reach_kafka(publish, kafka_bootstrap):
    ids = set()
    for path, name in (("/publish", "single-publish"), ("/", "single-root")):
        response = publish.post(path, json={"type": "TEMP", "value": 1, "id": name})
        assert response.status_code == 202, response.text
        assert response.headers["Fn-Call-Id"]
        ids.add(response.json()["id"])
    assert ids == {"single-publish", "single-root"}
    assert published_ids(kafka_bootstrap, ids) == ids


def test_readyz_shows_the_one_function_and_no_other_was_started(publish):
    response = publish.get("/readyz")
    assert response.status_code == 200
    assert response.json()["status"] == "ready"
    assert set(response.json()["functions"]) == {"publish"}
    metrics = publish.get("/metrics")
    assert metrics.status_code == 200
    assert 'function="publish"' in metrics.text
    assert 'function="persist"' not in metrics.text


def test_the_fn_api_is_not_served_its_paths_are_the_functions(publish):
    # GET reaches publish, which takes only POST: its own 405, not Fn's API
    # (whose GET /v2/apps would list apps) nor the gateway's "Path not found".
    response = publish.get("/v2/apps")
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"
    assert response.json() == {"message": "GET is not allowed; POST events"}
    # only GET /livez, /readyz and /metrics are the gateway's: another method is publish's
    assert publish.put("/livez", json={"type": "TEMP"}).status_code == 405


def test_an_unknown_function_stops_the_gateway_at_start_with_one_clear_line(tmp_path):
    env = single_env("publsh", tmp_path, free_port())
    started = subprocess.run(
        [sys.executable, "-m", "gateway"],
        env=python_env(env),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert started.returncode == 1
    assert started.stderr.strip().splitlines()[-1] == (
        'eventfn gateway: EVENTFN_FUNCTION=publsh: app "eventfn" has no such function '
        "(its functions: alert, archive, persist, publish; "
        f"each is a functions/<name>/func.yaml under {ROOT})"
    )
    assert "Traceback" not in started.stderr


def test_api_keys_reach_the_function_by_the_scopes_that_reach_it_on_the_full_gateway(
    tmp_path, kafka_bootstrap
):
    (tmp_path / "keys.yaml").write_text(KEYS)
    port = free_port()
    env = single_env(
        "publish",
        tmp_path,
        port,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        EVENTFN_API_KEYS=str(tmp_path / "keys.yaml"),
    )
    base = f"http://127.0.0.1:{port}"
    event = {"type": "TEMP", "value": 1}
    with (
        running("gateway", env, f"{base}/readyz", tmp_path / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        assert client.post("/", json=event).status_code == 401
        # the original clients' publish key, and the bridge's invoke key
        for key in (INGEST, BRIDGE):
            answer = client.post("/publish", json=event, headers={"X-Api-Key": key})
            assert answer.status_code == 202, answer.text
        refused = client.post("/", json=event, headers={"Authorization": f"Bearer {WATCHER}"})
        assert refused.status_code == 403
        assert refused.json()["message"] == (
            'the API key "watcher" may not call function "publish" '
            "(it needs one of the scopes invoke, publish, triggers)"
        )
        assert client.get("/metrics", headers={"X-Api-Key": WATCHER}).status_code == 200
        assert client.get("/metrics", headers={"X-Api-Key": INGEST}).status_code == 403
        assert client.get("/readyz").status_code == 200


def test_the_bridge_feeds_persist_at_the_root_of_its_service(
    publish, tmp_path, kafka_bootstrap, clean_database, db
):
    """Knative's topology: publish's Service, the bridge, persist's Service."""
    port, bridge_port = free_port(), free_port()
    persist_url = f"http://127.0.0.1:{port}"
    persist_env = single_env(
        "persist",
        tmp_path / "persist",
        port,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=clean_database,
    )
    bridge_env = {
        "EVENTFN_ROOT": str(ROOT),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EVENTFN_BRIDGE_TARGETS": f"persist={persist_url}/",
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"single-{port}-",
        "EVENTFN_BRIDGE_PORT": str(bridge_port),
    }
    with (
        running(
            "gateway", persist_env, f"{persist_url}/readyz", tmp_path / "persist" / "gateway.log"
        ),
        running(
            "bridge",
            bridge_env,
            f"http://127.0.0.1:{bridge_port}/readyz",
            tmp_path / "bridge.log",
        ),
    ):
        response = publish.post("/", content=orjson.dumps({"type": "TEMP", "value": "ALERT:90"}))
        assert response.status_code == 202
        event_id = response.json()["id"]
        wait_until(
            lambda: db.execute("select 1 from events where id = %s", (event_id,)).fetchone(),
            timeout=30,
            what="the event's row, written by persist's single-function gateway",
        )


def test_a_kafka_source_delivery_of_one_event_is_stored_once_and_answers_by_status(
    publish, tmp_path, kafka_bootstrap, clean_database, db
):
    """The KafkaSource variant: persist's Service gets one CloudEvent per POST,
    converted from its Kafka record to HTTP binary mode as a KafkaSource's
    dispatcher converts it (here by the CloudEvents SDK's bindings)."""
    answer = publish.post("/publish", json={"type": "TEMP", "value": "ALERT:95"})
    event_id = answer.json()["id"]
    (record,) = [
        m
        for m in read_topic(
            kafka_bootstrap,
            "events",
            lambda seen: any(header(m, "ce_id") == event_id.encode() for m in seen),
        )
        if header(m, "ce_id") == event_id.encode()
    ]
    message = kafka.KafkaMessage(dict(record.headers()), record.key(), record.value())
    delivery = http.to_binary_event(kafka.from_binary_event(message))
    assert delivery.headers["ce-id"] == event_id
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = single_env(
        "persist",
        tmp_path,
        port,
        KAFKA_BOOTSTRAP_SERVERS=kafka_bootstrap,
        DATABASE_URL=clean_database,
    )
    with running("gateway", env, f"{url}/readyz", tmp_path / "gateway.log"):
        for _ in range(2):  # a redelivery adds nothing
            stored = httpx.post(url, headers=delivery.headers, content=delivery.body, timeout=30)
            assert stored.status_code == 200, stored.text
            assert stored.json()["failures"] == []
        rows = db.execute("select data from events where id = %s", (event_id,)).fetchall()
        assert rows == [({"type": "TEMP", "value": "ALERT:95"},)]
        # One the function can never store: 400, which a KafkaSource dead-letters at once.
        broken = {k: v for k, v in delivery.headers.items() if k != "ce-type"}
        refused = httpx.post(url, headers=broken, content=delivery.body, timeout=30)
        assert refused.status_code == 400
        assert "type" in refused.json()["failures"][0]["reason"]
