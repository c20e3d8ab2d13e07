"""The archive function under the gateway, as the bridge calls it: bad input is
answered naming the problem (a 400, which a plain invoke passes as 200), an
event it cannot place fails alone, and a bucket it cannot reach fails the
whole batch (502), so the bridge keeps it and tries again."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from gateway.registry import function_id
from infra.ports import free_port
from tests.support import ROOT, running

pytestmark = pytest.mark.integration

URL = f"/invoke/{function_id('eventfn', 'archive')}"
BATCH = {"Content-Type": "application/cloudevents-batch+json"}


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory, kafka_bootstrap) -> Iterator[httpx.Client]:
    """A gateway whose archive function's bucket is at an address nothing listens on."""
    port = free_port()
    run_dir = tmp_path_factory.mktemp("archive-function")
    env = {
        "EVENTFN_ROOT": str(ROOT),
        "EVENTFN_RUN_DIR": str(run_dir),
        "PORT": str(port),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "EVENTFN_ARCHIVE_BUCKET": "nowhere",
        "EVENTFN_ARCHIVE_ENDPOINT_URL": f"http://127.0.0.1:{free_port()}",
        "EVENTFN_ARCHIVE_TIMEOUT_S": "1",
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"),
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield client


def event(event_id: str, **coordinates: object) -> dict:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": "/tests",
        "type": "TEMP",
        "time": "2024-05-01T12:00:00Z",
        "data": {"value": 1},
        **coordinates,
    }


def test_a_body_that_is_no_batch_gets_a_json_answer_naming_the_problem(unreachable):
    response = unreachable.post(URL, content=b"not json", headers=BATCH)
    assert response.status_code == 200  # a plain invoke passes 200, 502 and 504 only
    answer = response.json()
    assert "batch is not valid JSON" in answer["message"]
    assert "Traceback" not in response.text


def test_events_without_coordinates_fail_alone_and_touch_no_bucket(unreachable):
    batch = [event("a"), {"specversion": "1.0", "id": "no-type", "source": "/tests"}]
    response = unreachable.post(URL, content=orjson.dumps(batch), headers=BATCH)
    assert response.status_code == 200, response.text
    failures = {f["id"]: f for f in response.json()["failures"]}
    assert set(failures) == {"a", "no-type"}
    assert "kafkaoffset" in failures["a"]["reason"]
    assert not any(f["retryable"] for f in failures.values())


def test_a_bucket_that_cannot_be_reached_fails_the_whole_batch(unreachable):
    batch = [event("b", kafkatopic="events", kafkapartition=0, kafkaoffset=3)]
    response = unreachable.post(URL, content=orjson.dumps(batch), headers=BATCH)
    assert response.status_code == 502
    assert "Traceback" not in response.text
