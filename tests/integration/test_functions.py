"""The three functions, run by the gateway against real Kafka and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.registry import function_id
from infra.ports import free_port
from infra.waiting import wait_until
from tests.samples import sample
from tests.support import ROOT, header, read_topic, running, topic_size

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[httpx.Client]:
    port = free_port()
    run_dir = tmp_path_factory.mktemp("functions")
    env = {
        "EVENTFN_ROOT": str(ROOT),
        "EVENTFN_RUN_DIR": str(run_dir),
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        client.run_dir = run_dir  # type: ignore[attr-defined]
        yield client


def invoke(gateway: httpx.Client, name: str, events: list[dict]) -> dict:
    response = gateway.post(
        f"/invoke/{function_id('eventfn', name)}",
        content=orjson.dumps(events),
        headers={"Content-Type": "application/cloudevents-batch+json"},
    )
    assert response.status_code == 200, response.text
    return response.json()


def event(event_id: str, value: object = 21, type_: str = "TEMP", **extra: object) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/tests",
        "type": type_,
        "time": "2024-05-01T12:00:00Z",
        "datacontenttype": "application/json",
        "data": {"type": type_, "value": value},
        "kafkatopic": "events",
        "kafkapartition": 0,
        "kafkaoffset": 7,
        **extra,
    }


def test_publish_answers_202_once_kafka_has_the_event_in_binary_mode(gateway, kafka_bootstrap):
    response = gateway.post(
        "/publish", content=sample("plain.json"), headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 202
    event_id = response.json()["id"]
    assert response.json()["ids"] == [event_id]

    def has_it(messages):
        return any(header(m, "ce_id") == event_id.encode() for m in messages)

    messages = read_topic(kafka_bootstrap, "events", has_it)
    (record,) = [m for m in messages if header(m, "ce_id") == event_id.encode()]
    headers = dict(record.headers())
    assert headers["ce_type"] == b"TEMP"
    assert headers["ce_source"] == b"/eventfn/publish"
    assert headers["ce_specversion"] == b"1.0"
    assert headers["content-type"] == b"application/json"
    assert record.key() == event_id.encode()
    assert orjson.loads(record.value()) == {"type": "TEMP", "value": "ALERT:90"}


def test_publish_accepts_every_form(gateway):
    forms = [
        (sample("plain-array.json"), {"Content-Type": "application/json"}, 3),
        (sample("structured.json"), {"Content-Type": "application/cloudevents+json"}, 1),
        (sample("batch.json"), {"Content-Type": "application/cloudevents-batch+json"}, 2),
        (
            b'{"value": 1}',
            {
                "ce-specversion": "1.0",
                "ce-type": "TEMP",
                "ce-source": "/b",
                "Content-Type": "application/json",
            },
            1,
        ),
    ]
    for body, headers, count in forms:
        response = gateway.post("/publish", content=body, headers=headers)
        assert response.status_code == 202, response.text
        assert len(response.json()["ids"]) == count


@pytest.mark.parametrize(
    ("body", "content_type", "status", "message"),
    [
        (b'{"type": "TEMP", "value"', "application/json", 400, "body: is not valid JSON"),
        (
            b'{"type": 42, "value": "ALERT:90"}',
            "application/json",
            400,
            "type: Input should be a valid string",
        ),
        (b"", "application/json", 400, "body: is empty"),
        (b'"TEMP"', "application/json", 400, "body: must be a JSON object"),
        (b"<event/>", "application/xml", 415, "content type 'application/xml' is not supported"),
        (
            b'{"type": "TEMP", "value": ' + b"[" * 300 + b"]" * 300 + b"}",
            "application/json",
            400,
            "value[0][0]",
        ),
        (b'{"type": "TEMP", "value": "9\\u0000"}', "application/json", 400, "value: holds a NUL"),
    ],
)
def test_bad_input_gets_a_json_4xx_and_nothing_reaches_kafka(
    gateway, kafka_bootstrap, body, content_type, status, message
):
    before = topic_size(kafka_bootstrap, "events")
    response = gateway.post("/publish", content=body, headers={"Content-Type": content_type})
    assert response.status_code == status
    assert response.headers["content-type"] == "application/json"
    assert response.json()["message"].startswith(message)
    assert topic_size(kafka_bootstrap, "events") == before


def test_publish_names_the_field_of_each_bad_event(gateway):
    response = gateway.post("/publish", json=[{"type": "A"}, {"value": 1}])
    assert response.status_code == 400
    assert response.json()["errors"] == [{"field": "[1].type", "problem": "Field required"}]


def test_publish_only_takes_post(gateway):
    response = gateway.get("/publish")
    assert response.status_code == 405
    assert response.headers["allow"] == "POST"


def test_persist_writes_each_event_once(gateway, db):
    batch = [event(f"p-{n}") for n in range(50)]
    assert invoke(gateway, "persist", batch) == {"failures": [], "inserted": 50, "duplicates": 0}
    assert invoke(gateway, "persist", batch) == {"failures": [], "inserted": 0, "duplicates": 50}
    assert db.execute("select count(*) from events").fetchone() == (50,)
    row = db.execute(
        "select type, data, kafka_topic, kafka_partition, kafka_offset, extensions from events "
        "where id = 'p-3'"
    ).fetchone()
    assert row == ("TEMP", {"type": "TEMP", "value": 21}, "events", 0, 7, {})


def test_persist_fails_only_the_events_it_cannot_store(gateway, db):
    batch = [
        event("good-1"),
        {"specversion": "1.0", "id": "no-type", "source": "/tests"},
        event("nul", value="bad\u0000byte"),
        event("good-2"),
    ]
    result = invoke(gateway, "persist", batch)
    assert result["inserted"] == 2
    failed = {f["id"]: f for f in result["failures"]}
    assert set(failed) == {"no-type", "nul"}
    assert not any(f["retryable"] for f in failed.values())
    ids = {r[0] for r in db.execute("select id from events").fetchall()}
    assert ids == {"good-1", "good-2"}


def test_alert_keeps_one_instance_and_tells_its_firing_once(gateway, db, kafka_bootstrap):
    batch = [event("a-1", "ALERT:90"), event("a-2", 20)]
    counts = {"failures": [], "evaluated": 1, "firing": 1, "resolved": 0, "late": 0}
    assert invoke(gateway, "alert", batch[:1]) == counts
    assert invoke(gateway, "alert", batch[:1]) == {**counts, "firing": 0}
    rows = db.execute(
        "select rule, severity, state, event_id, event_count, value, threshold from alerts"
        " where state <> 'inactive'"
    ).fetchall()
    assert rows == [("temperature-high", "critical", "firing", "a-1", 1, 90.0, 80.0)]
    (alert_id,) = db.execute("select id from alerts where state = 'firing'").fetchone()

    def published(messages):
        return [m for m in messages if m.key() == alert_id.encode()]

    (record,) = published(read_topic(kafka_bootstrap, "alerts", published))
    assert header(record, "ce_type") == b"eventfn.alert.firing"
    assert orjson.loads(record.value())["lastEvent"]["id"] == "a-1"
    log = gateway.run_dir / "logs" / "fn-alert.log"
    lines = wait_until(
        lambda: [line for line in log.read_text().splitlines() if line.startswith("FIRING")],
        timeout=10,
        what="the FIRING line in the alert function's log",
    )
    assert len(lines) == 1
    assert 'rule="temperature-high"' in lines[0]
    # the reading of 20 is not hot: the instance resolves
    assert invoke(gateway, "alert", batch[1:])["resolved"] == 1
