"""The local run's plan: which components and tasks, in which order, with which environment."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from pathlib import Path

from bridge.settings import TARGETS
from eventcore.errors import RuleError
from eventio import rulefile
from eventio.settings import ALERTMANAGER_URL, DATABASE_URL, KAFKA_BOOTSTRAP_SERVERS, RUN_DIR
from gateway.errors import GatewayError
from gateway.registry import function_id, load_app
from infra import alertmanager, kafka, postgres
from infra.errors import PlanError
from infra.migrate import apply_migrations
from infra.settings import (
    BRIDGE_PORT,
    GATEWAY_PORT,
    Settings,
)
from infra.supervisor import Component, Step, Task
from infra.topics import ensure_topics
from infra.waiting import http_ready, wait_until


def database_url(settings: Settings) -> str:
    """The external ``DATABASE_URL`` if given, else the embedded cluster's."""
    return settings.external_database_url or postgres.database_url(settings)


def python_path(settings: Settings) -> str:
    """The repository root (gateway, infra) and ``functions/`` (the core and adapters)."""
    return f"{settings.root}:{settings.root / 'functions'}"


def service_env(settings: Settings, db_url: str) -> dict[str, str]:
    """What the gateway and the bridge read from their environment."""
    return {
        ALERTMANAGER_URL: settings.alertmanager_url,
        GATEWAY_PORT: str(settings.gateway_port),
        BRIDGE_PORT: str(settings.bridge_port),
        KAFKA_BOOTSTRAP_SERVERS: settings.bootstrap_servers,
        DATABASE_URL: db_url,
        RUN_DIR: str(settings.run_dir),
        "PYTHONPATH": python_path(settings),
        "PYTHONUNBUFFERED": "1",
    }


def gateway_component(settings: Settings, db_url: str) -> Component:
    argv = settings.gateway_cmd or (sys.executable, "-m", "gateway")
    return Component(
        name="gateway",
        argv=argv,
        env=service_env(settings, db_url),
        cwd=settings.root,
        health=lambda: http_ready(f"{settings.gateway_url}/readyz"),
        live=lambda: http_ready(f"{settings.gateway_url}/livez", timeout=1.0),
        stop_timeout=20.0,
        describe=f"gateway on {settings.gateway_url}",
    )


def bridge_targets(gateway_url: str, root: Path, functions: Sequence[str]) -> str:
    """``EVENTFN_BRIDGE_TARGETS`` for feeding ``functions`` of the app at ``root``
    through the gateway at ``gateway_url``: each at ``/invoke/{id}``, the ID the
    gateway deploys a declared function under."""
    try:
        app = load_app(root)
        ids = {name: function_id(app.name, app.function_named(name).name) for name in functions}
    except GatewayError as error:
        raise PlanError(f"the bridge's functions ({', '.join(functions)}): {error}") from None
    return ",".join(f"{name}={gateway_url}/invoke/{ids[name]}" for name in functions)


def bridge_component(settings: Settings, db_url: str) -> Component:
    argv = settings.bridge_cmd or (sys.executable, "-m", "bridge")
    targets = bridge_targets(settings.gateway_url, settings.root, settings.bridge_functions)
    return Component(
        name="bridge",
        argv=argv,
        env={**service_env(settings, db_url), TARGETS: targets},
        cwd=settings.root,
        health=lambda: http_ready(f"{settings.bridge_url}/readyz"),
        live=lambda: http_ready(f"{settings.bridge_url}/livez", timeout=1.0),
        stop_timeout=20.0,
        describe=f"bridge (Kafka -> {settings.gateway_url}), health on {settings.bridge_url}",
    )


def postgres_step(settings: Settings) -> Step:
    """The embedded PostgreSQL server, or a wait for the external ``DATABASE_URL``."""
    if settings.embedded_postgres:
        return postgres.component(settings)
    url = database_url(settings)

    def wait() -> None:
        wait_until(lambda: postgres.url_ready(url), timeout=60, what="the external DATABASE_URL")

    return Task("wait-postgres", wait)


def kafka_steps(settings: Settings) -> list[Step]:
    """The embedded broker, or nothing when ``KAFKA_BOOTSTRAP_SERVERS`` is external."""
    return [kafka.component(settings)] if settings.embedded_kafka else []


def migrations_task(settings: Settings) -> Task:
    url = database_url(settings)
    return Task("migrations", lambda: _migrate(url))


def topics_task(settings: Settings) -> Task:
    return Task("topics", lambda: ensure_topics(settings.bootstrap_servers))


def postgres_plan(settings: Settings) -> list[Step]:
    """Just the database, migrated: what a test session needs of PostgreSQL."""
    return [postgres_step(settings), migrations_task(settings)]


def kafka_plan(settings: Settings) -> list[Step]:
    """Just the broker with its topics: what a test session needs of Kafka."""
    return [*kafka_steps(settings), topics_task(settings)]


def alertmanager_steps(settings: Settings) -> list[Step]:
    """The embedded Alertmanager, or nothing when ``ALERTMANAGER_URL`` is external."""
    return [alertmanager.component(settings)] if settings.embedded_alertmanager else []


def rules_task(settings: Settings) -> Task:
    """The alert function's rule file, checked before anything starts: a file
    the function could not use stops the run, saying the line and the problem."""

    def check() -> None:
        try:
            alert = load_app(settings.root).function_named("alert")
        except GatewayError:
            return  # an app without the alert function has no rules to check
        path = settings.alert_rules or Path(alert.config.get("EVENTFN_ALERT_RULES", "rules.yaml"))
        try:
            rulefile.read(path if path.is_absolute() else alert.code.directory / path)
        except RuleError as error:
            raise PlanError(f"the alert rules: {error}") from None

    return Task("alert-rules", check)


def default_plan(settings: Settings) -> list[Step]:
    """The rules checked; PostgreSQL, Kafka and Alertmanager, then migrations and
    topics, then the gateway and the bridge."""
    url = database_url(settings)
    return [
        rules_task(settings),
        postgres_step(settings),
        *kafka_steps(settings),
        *alertmanager_steps(settings),
        migrations_task(settings),
        topics_task(settings),
        gateway_component(settings, url),
        bridge_component(settings, url),
    ]


def _migrate(url: str) -> None:
    apply_migrations(url)
