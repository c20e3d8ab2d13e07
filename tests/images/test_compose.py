"""infra/docker-compose.yml as Docker Compose reads it: `docker compose config`
accepts it (no engine needed), and the services, images, commands, environment
and start order are the intended ones."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from infra.components import bridge_targets
from infra.kafka import KAFKA_VERSION
from tests.support import ROOT

COMPOSE_FILE = ROOT / "infra" / "docker-compose.yml"
# Where scripts/lib/compose.sh builds the compose plugin (DOCKER_CONFIG's cli-plugins).
DOCKER_CONFIG = ROOT / ".cache" / "docker"
GATEWAY_IMAGE = "eventfn/gateway:0.1.0"
DATABASE_URL = "postgresql://eventfn:eventfn@postgres:5432/eventfn"


def compose_command() -> tuple[list[str], dict[str, str]] | None:
    """`docker compose` (the plugin set-up built, or the machine's own), else a
    standalone `docker-compose`; None when there is neither."""
    env = dict(os.environ)
    if shutil.which("docker"):
        if (DOCKER_CONFIG / "cli-plugins" / "docker-compose").is_file():
            return ["docker", "compose"], {**env, "DOCKER_CONFIG": str(DOCKER_CONFIG)}
        probe = subprocess.run(["docker", "compose", "version"], capture_output=True, env=env)
        if probe.returncode == 0:
            return ["docker", "compose"], env
    if standalone := shutil.which("docker-compose"):
        return [standalone], env
    return None


@pytest.fixture(scope="module")
def compose() -> tuple[list[str], dict[str, str]]:
    found = compose_command()
    if found is None:
        reason = "Docker Compose is not installed (scripts/lib/compose.sh builds it)"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI must check the compose file")
        pytest.skip(reason)
    return found


def config(compose, path: Path) -> subprocess.CompletedProcess[str]:
    command, env = compose
    return subprocess.run(
        [*command, "-f", str(path), "config"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


@pytest.fixture(scope="module")
def services(compose) -> dict:
    done = config(compose, COMPOSE_FILE)
    assert done.returncode == 0, done.stderr
    return yaml.safe_load(done.stdout)["services"]


def test_compose_accepts_the_file_and_it_has_the_whole_stack(services):
    assert set(services) == {"kafka", "postgres", "migrate", "topics", "gateway", "bridge"}


def test_kafka_is_the_official_image_of_the_local_version_in_kraft_mode(services):
    kafka = services["kafka"]
    assert kafka["image"] == f"apache/kafka:{KAFKA_VERSION}"
    env = kafka["environment"]
    assert env["KAFKA_PROCESS_ROLES"] == "broker,controller"
    assert env["KAFKA_CONTROLLER_QUORUM_VOTERS"] == "1@kafka:9093"
    assert "PLAINTEXT://kafka:9092" in env["KAFKA_ADVERTISED_LISTENERS"].split(",")
    # topics are made on purpose, with their partition counts (infra.topics)
    assert env["KAFKA_AUTO_CREATE_TOPICS_ENABLE"] == "false"


def test_every_eventfn_service_runs_the_gateway_image_built_from_infra_dockerfile(services):
    commands = {
        "migrate": ["python", "-m", "infra.migrate"],
        "topics": ["python", "-m", "infra.topics"],
        "gateway": ["python", "-m", "gateway"],
        "bridge": ["python", "-m", "bridge"],
    }
    for name, command in commands.items():
        service = services[name]
        assert service["image"] == GATEWAY_IMAGE
        assert service["command"] == command
        assert Path(service["build"]["context"]) == ROOT
        assert service["build"]["dockerfile"] == "infra/Dockerfile"
        assert (ROOT / service["build"]["dockerfile"]).is_file()


def test_the_services_find_kafka_postgresql_and_the_gateway(services):
    postgres = services["postgres"]["environment"]
    url = urlsplit(DATABASE_URL)
    assert (url.username, url.password, url.path) == (
        postgres["POSTGRES_USER"],
        postgres["POSTGRES_PASSWORD"],
        f"/{postgres['POSTGRES_DB']}",
    )
    assert (postgres["POSTGRES_USER"], postgres["POSTGRES_DB"]) == ("eventfn", "eventfn")
    assert services["postgres"]["image"].startswith("postgres:")
    assert services["migrate"]["environment"]["DATABASE_URL"] == DATABASE_URL
    assert services["topics"]["environment"]["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    gateway = services["gateway"]["environment"]
    assert gateway["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    assert gateway["DATABASE_URL"] == DATABASE_URL
    bridge = services["bridge"]["environment"]
    assert bridge["KAFKA_BOOTSTRAP_SERVERS"] == "kafka:9092"
    gateway_url = f"http://gateway:{gateway['PORT']}"
    assert bridge["EVENTFN_BRIDGE_TARGETS"] == bridge_targets(
        gateway_url, ROOT, ("persist", "alert")
    )


def test_the_gateway_is_published_on_8080_of_the_host_only(services):
    ports = services["gateway"]["ports"]
    assert [(p["host_ip"], str(p["published"]), p["target"]) for p in ports] == [
        ("127.0.0.1", "8080", 8080)
    ]


def test_each_service_starts_once_what_it_needs_is_healthy_or_done(services):
    wanted = {
        "migrate": {"postgres": "service_healthy"},
        "topics": {"kafka": "service_healthy"},
        "gateway": {
            "migrate": "service_completed_successfully",
            "topics": "service_completed_successfully",
        },
        "bridge": {"gateway": "service_healthy", "topics": "service_completed_successfully"},
    }
    for name, needs in wanted.items():
        depends = services[name]["depends_on"]
        assert {k: v["condition"] for k, v in depends.items()} == needs, name
        for needed, condition in needs.items():
            if condition == "service_healthy":
                assert services[needed]["healthcheck"]["test"], needed


def test_compose_refuses_a_broken_file_so_acceptance_means_something(compose, tmp_path):
    broken = yaml.safe_load(COMPOSE_FILE.read_text())
    broken["services"]["gateway"]["depends_on"]["migrate"]["condition"] = "service_started_ok"
    path = tmp_path / "docker-compose.yml"
    path.write_text(yaml.safe_dump(broken))
    done = config(compose, path)
    assert done.returncode != 0
    assert "condition" in done.stderr, done.stderr


def test_the_shipped_alertmanager_config_is_one_alertmanager_takes():
    amtool = shutil.which("amtool")
    if amtool is None:
        pytest.fail(
            "amtool (Debian's prometheus-alertmanager) is missing; scripts/test.sh installs it"
        )
    checked = subprocess.run(
        [amtool, "check-config", str(ROOT / "infra" / "alertmanager.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
