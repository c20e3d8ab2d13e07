"""The gateway's HTTP API fuzzed from its OpenAPI description, gateway/openapi.yaml.

schemathesis runs every operation the description names against a real gateway
(the repository's functions as fdk processes, on real Kafka and PostgreSQL):
cases that fit the description and cases that break it, from its explicit
examples, its coverage phase (boundaries, missing and wrong parameters, methods
the path does not take) and random fuzzing. Every answer must be one the
description allows, no 5xx, and data that breaks it must be refused.

``EVENTFN_FUZZ_EXAMPLES`` sets the random cases per operation (1000 by default).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import checks

from gateway.app import create_app
from gateway.settings import GatewaySettings
from infra.ports import free_port
from infra.topics import TopicSpec, ensure_topics
from tests.support import ROOT, running

pytestmark = [pytest.mark.integration, pytest.mark.fuzz]

SPEC = ROOT / "gateway" / "openapi.yaml"
# The fuzzer's events go to a topic of their own: the bridges other tests run
# read "events" from the start, and should not have to wade through them.
TOPIC = TopicSpec("fuzz.events", 3)
EXAMPLES = int(os.environ.get("EVENTFN_FUZZ_EXAMPLES", "1000"))
# No example database: nothing is written to the tree, and a failure is
# reported with the curl command that reproduces it.
schema = schemathesis.openapi.from_path(SPEC)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    max_examples=EXAMPLES,
    database="none",
)

CHECKS = [
    checks.not_a_server_error,
    checks.status_code_conformance,
    checks.content_type_conformance,
    checks.response_schema_conformance,
    checks.response_headers_conformance,
    # Negative cases (a wrong type, a value out of range, a missing required
    # parameter) must be refused, not run.
    checks.negative_data_rejection,
    # A method the path does not take must get 405 with an Allow header.
    checks.unsupported_method,
]
# Methods the gateway takes that the description names in prose rather than
# as operations: a trigger passes OPTIONS on too, and /publish answers every
# method but POST with the publish function's 405.
IN_PROSE = {
    ("OPTIONS", "/t/{}"),
    ("OPTIONS", "/t/{}/{}"),
    *((method, "/publish") for method in ("GET", "PUT", "PATCH", "DELETE", "OPTIONS")),
}


@pytest.fixture(scope="module")
def gateway(tmp_path_factory, kafka_bootstrap, database_url) -> Iterator[str]:
    run_dir = tmp_path_factory.mktemp("fuzz")
    ensure_topics(kafka_bootstrap, (TOPIC,))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        "EVENTFN_ROOT": str(ROOT),
        "EVENTFN_RUN_DIR": str(run_dir),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "DATABASE_URL": database_url,
        "EVENTFN_EVENTS_TOPIC": TOPIC.name,
        "PORT": str(port),
    }
    with running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"):
        yield base


@pytest.fixture(scope="module")
def session() -> Iterator[requests.Session]:
    # One keep-alive connection for the whole run: a new one per case would
    # cost more than most of the gateway's answers.
    with requests.Session() as client:
        yield client


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_gateway_answers_as_its_openapi_description_says(case, gateway, session):
    case.call_and_validate(base_url=gateway, session=session, checks=CHECKS, timeout=30)


def test_the_description_is_valid_openapi():
    schema.validate()


def test_every_route_of_the_gateway_is_described(tmp_path: Path):
    app = create_app(GatewaySettings.from_env({}, run_dir=tmp_path))
    served = {
        (method, _shape(route.path))
        for route in app.routes
        for method in route.methods
        # HEAD comes with every GET; the second OCI version repeats the first.
        if method != "HEAD" and not route.path.startswith("/20260325/")
    }
    described = {
        (result.ok().method.upper(), _shape(result.ok().path))
        for result in schema.get_all_operations()
    }
    assert served - IN_PROSE == described


def _shape(path: str) -> str:
    """The path with its parameters unnamed (the description uses Fn's names,
    appID where the routes say app_id); every path under /calls is /calls."""
    return re.sub(r"\{[^}]*\}", "{}", path.replace("calls{rest:path}", "calls"))
