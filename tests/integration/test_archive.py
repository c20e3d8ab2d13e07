"""The archive function fed by the bridge, against moto's S3 server, with a kill -9
in the middle; then replay-archive.sh of the range into a fresh database.

The issue's acceptance: 10,000 events archived with one kill -9 of the archive
instance mid-run, each event in exactly one object; replaying that range into
a fresh database gives 10,000 rows.
"""

from __future__ import annotations

import os
import signal
import subprocess
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import boto3
import httpx
import orjson
import psycopg
import pytest
from psycopg import sql

from eventcore.archive_codec import decode
from eventcore.archive_layout import parse_key, place
from eventcore.cloudevent import validate_event
from infra import postgres, processes
from infra.migrate import apply_migrations
from infra.ports import free_port
from infra.settings import Settings
from infra.topics import TopicSpec, ensure_topics
from infra.waiting import wait_until
from tests.support import ROOT, metric, pipeline_env, python_env, running

pytestmark = pytest.mark.integration

COUNT = 10_000
POST = 500
START = datetime(2020, 1, 1, tzinfo=UTC)
# 10,000 events 0.6 s apart: two hours of 2020-01-01, far from any other test's events
STEP = timedelta(seconds=0.6)
END = START + COUNT * STEP
CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}


@dataclass
class Archived:
    bucket: str
    s3: object
    env: dict[str, str]
    sent: dict[tuple[str, str], dict]
    killed: list[int]
    delivered_at_kill: float
    # the bridge's counters at the end: POSTs that failed whole, and the events
    # the archive was sent again and already held
    failed_posts: float
    duplicates: float


def archive_env(s3_endpoint: str, bucket: str) -> dict[str, str]:
    return {
        **CREDENTIALS,
        "EVENTFN_ARCHIVE_BUCKET": bucket,
        "EVENTFN_ARCHIVE_ENDPOINT_URL": s3_endpoint,
    }


def events(run: str) -> list[dict]:
    return [
        {
            "specversion": "1.0",
            "id": f"arch-{n}",
            "source": f"/tests/archive/{run}",
            "type": "TEMP" if n % 2 else "HUM",
            "time": (START + n * STEP).isoformat().replace("+00:00", "Z"),
            "subject": f"sensor-{n % 40}",
            "data": {"value": n, "sensor": f"sensor-{n % 40}"},
        }
        for n in range(COUNT)
    ]


def archive_instances(gateway_pid: int) -> list[int]:
    """The gateway's fdk children that run the archive function (as tests/faults finds them)."""
    found = []
    for pid in processes.all_pids():
        info = processes.proc_info(pid)
        if info is None or info.ppid != gateway_pid or info.zombie:
            continue
        fdk = any(Path(part).name == "fdk" for part in processes.cmdline_of(pid)[:2])
        if fdk and processes.environ_of(pid).get("FN_FN_NAME") == "archive":
            found.append(pid)
    return found


def archived_ids(s3, bucket: str) -> Counter:
    """(source, id) of every event in every object of 2020-01-01, counted."""
    seen: Counter = Counter()
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            if "/date=2020-01-01/" not in item["Key"]:
                continue
            body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
            seen.update((e["source"], e["id"]) for e in decode(body))
    return seen


@pytest.fixture(scope="module")
def archived(tmp_path_factory, kafka_bootstrap, database_url, s3_endpoint) -> Archived:
    """10,000 events through gateway, Kafka and bridge into the archive, the
    archive's instances SIGKILLed once while it works; the stack stopped after."""
    run = uuid.uuid4().hex[:8]
    bucket = f"eventfn-archive-{run}"
    s3 = boto3.client("s3", endpoint_url=s3_endpoint, **_boto_credentials())
    s3.create_bucket(Bucket=bucket)
    run_dir = tmp_path_factory.mktemp("archive")
    topic = f"archive-events-{run}"
    ensure_topics(kafka_bootstrap, (TopicSpec(topic, 6),))
    port, bridge_port = free_port(), free_port()
    gateway_url, bridge_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bridge_port}"
    env = {
        **pipeline_env(
            run_dir, kafka_bootstrap, database_url, port, bridge_port, functions=("archive",)
        ),
        **archive_env(s3_endpoint, bucket),
        # a topic of its own: 10,000 more records on "events" would slow every
        # test that reads that topic from its start
        "EVENTFN_EVENTS_TOPIC": topic,
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"archive-{run}-",
        "EVENTFN_BRIDGE_BACKOFF_INITIAL_S": "0.1",
        "EVENTFN_BRIDGE_BACKOFF_CAP_S": "1",
    }
    sent = events(run)

    def bridge_metric(name: str, **labels: str) -> float:
        text = httpx.get(f"{bridge_url}/metrics").text
        return metric(text, name, function="archive", **labels)

    def delivered() -> float:
        return bridge_metric("eventfn_bridge_records_total", outcome="delivered")

    with (
        running("gateway", env, f"{gateway_url}/readyz", run_dir / "gateway.log") as gateway,
        running("bridge", env, f"{bridge_url}/readyz", run_dir / "bridge.log"),
        httpx.Client(base_url=gateway_url, timeout=60) as client,
    ):
        headers = {"Content-Type": "application/cloudevents-batch+json"}
        for start in range(0, COUNT, POST):
            response = client.post("/publish", json=sent[start : start + POST], headers=headers)
            assert response.status_code == 202, response.text
        # mid-stream: most of the events still to archive, a batch in flight
        wait_until(lambda: delivered() >= 3000, timeout=60, what="the archive under way")
        at_kill = delivered()
        killed = archive_instances(gateway.pid)
        assert killed, "the gateway runs no archive instance"
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        wanted = {(e["source"], e["id"]) for e in sent}
        wait_until(
            lambda: wanted <= set(archived_ids(s3, bucket)),
            timeout=120,
            interval=1.0,
            what="every event in the archive",
        )
        failed_posts = bridge_metric("eventfn_bridge_attempts_total", result="failed")
        duplicates = bridge_metric("eventfn_bridge_function_counts_total", count="duplicates")
    return Archived(
        bucket,
        s3,
        archive_env(s3_endpoint, bucket),
        {(e["source"], e["id"]): e for e in sent},
        killed,
        at_kill,
        failed_posts,
        duplicates,
    )


def test_each_event_is_in_exactly_one_object_after_a_kill(archived):
    assert archived.delivered_at_kill < COUNT, "the kill came after the archive had finished"
    print(
        f"killed {len(archived.killed)} archive instance(s) at {archived.delivered_at_kill:.0f}"
        f" of {COUNT} delivered; failed POSTs {archived.failed_posts:.0f}, events sent again"
        f" and already archived {archived.duplicates:.0f}"
    )
    seen = archived_ids(archived.s3, archived.bucket)
    assert set(seen) == set(archived.sent)
    assert len(seen) == COUNT
    assert [key for key, n in seen.items() if n != 1] == []


def test_each_object_is_where_its_events_belong(archived):
    s3, bucket = archived.s3, archived.bucket
    keys = [
        item["Key"]
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
        for item in page.get("Contents", [])
        if "/date=2020-01-01/" in item["Key"]
    ]
    assert keys
    for key in keys:
        placement = parse_key(key)
        assert placement is not None, key
        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        documents = decode(body)
        offsets = [d["kafkaoffset"] for d in documents]
        assert offsets == sorted(set(offsets)), key
        for document in documents:
            assert place(validate_event(document), 1000) == placement, key


def test_replay_of_the_range_into_a_fresh_database_gives_the_same_rows(
    archived, tmp_path, kafka_bootstrap, postgres_server, database_url
):
    name = f"replay_{uuid.uuid4().hex[:8]}"
    fresh_url = fresh_database(postgres_server, database_url, name)
    topic = f"replay-{name}"
    ensure_topics(kafka_bootstrap, (TopicSpec(topic, 6),))
    replay = replay_archive(
        archived,
        kafka_bootstrap,
        topic,
        tmp_path,
        "--from",
        START.isoformat(),
        "--to",
        END.isoformat(),
    )
    assert replay.returncode == 0, replay.stderr
    assert f"replayed {COUNT} " in replay.stdout, replay.stdout

    port, bridge_port = free_port(), free_port()
    gateway_url, bridge_url = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{bridge_port}"
    env = {
        **pipeline_env(tmp_path, kafka_bootstrap, fresh_url, port, bridge_port, ("persist",)),
        "EVENTFN_EVENTS_TOPIC": topic,
        "EVENTFN_BRIDGE_GROUP_PREFIX": f"{name}-",
    }
    with (
        running("gateway", env, f"{gateway_url}/readyz", tmp_path / "gateway.log"),
        running("bridge", env, f"{bridge_url}/readyz", tmp_path / "bridge.log"),
        psycopg.connect(fresh_url, autocommit=True) as db,
    ):

        def rows() -> int:
            return db.execute("select count(*) from events").fetchone()[0]

        wait_until(lambda: rows() >= COUNT, timeout=90, interval=0.5, what="the replayed rows")
        found = db.execute("select source, id, type, subject, time, data from events").fetchall()
    assert len(found) == COUNT
    expected = {
        (e["source"], e["id"], e["type"], e["subject"], _moment(e["time"]), _json(e["data"]))
        for e in archived.sent.values()
    }
    assert {(s, i, t, sub, time, _json(data)) for s, i, t, sub, time, data in found} == expected


def test_a_dry_run_with_a_type_and_a_limit_counts_and_produces_nothing(
    archived, tmp_path, kafka_bootstrap
):
    replay = replay_archive(
        archived,
        kafka_bootstrap,
        "no-such-topic-for-a-dry-run",
        tmp_path,
        "--from",
        START.isoformat(),
        "--to",
        (START + timedelta(hours=1)).isoformat(),
        "--type",
        "T*",
        "--dry-run",
        "--limit",
        "100",
    )
    assert replay.returncode == 0, replay.stderr
    assert "would replay 100 " in replay.stdout
    assert "(stopped at --limit 100)" in replay.stdout


def replay_archive(archived, kafka, topic, run_dir, *args) -> subprocess.CompletedProcess[str]:
    env = python_env(
        {
            **archived.env,
            "KAFKA_BOOTSTRAP_SERVERS": kafka,
            "EVENTFN_EVENTS_TOPIC": topic,
            # not a developer's .run/env
            "EVENTFN_RUN_DIR": str(run_dir),
        }
    )
    return subprocess.run(
        [str(ROOT / "scripts" / "replay-archive.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def fresh_database(server: Settings, database_url: str, name: str) -> str:
    """A new, migrated database in the session's PostgreSQL server; its URL."""
    create = sql.SQL("CREATE DATABASE {} OWNER {}").format(
        sql.Identifier(name), sql.Identifier(urlsplit(database_url).username or "eventfn")
    )
    if server.external_database_url:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(create)
    else:
        with postgres.superuser_connect(server) as admin:
            admin.execute(create)
    url = urlunsplit(urlsplit(database_url)._replace(path=f"/{name}"))
    apply_migrations(url)
    return url


def _boto_credentials() -> dict[str, str]:
    return {
        "aws_access_key_id": CREDENTIALS["AWS_ACCESS_KEY_ID"],
        "aws_secret_access_key": CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
        "region_name": CREDENTIALS["AWS_DEFAULT_REGION"],
    }


def _moment(text: str) -> datetime:
    return datetime.fromisoformat(text)


def _json(value) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()
