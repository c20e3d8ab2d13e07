"""The local run's configuration, read once from the environment into a frozen object.

Precedence is explicit argument > environment > default: read with
:meth:`Settings.from_env`, then override single values with
``dataclasses.replace``.
"""

from __future__ import annotations

import argparse
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field

from eventio.settings import (
    ALERTMANAGER_URL,
    ARCHIVE_BUCKET,
    DATABASE_URL,
    KAFKA_BOOTSTRAP_SERVERS,
    RUN_DIR,
    EnvSettings,
    SettingsError,
    env,
    mask_url,
)
from infra.rundir import RunDir
from infra.supervisor import Liveness

ROOT = Path(__file__).resolve().parent.parent

# The variables named elsewhere too: in port conflicts, and in what the
# supervisor hands the gateway and the bridge (and writes to <run>/env).
KAFKA_PORT = "EVENTFN_KAFKA_PORT"
KAFKA_CONTROLLER_PORT = "EVENTFN_KAFKA_CONTROLLER_PORT"
PG_PORT = "EVENTFN_PG_PORT"
GATEWAY_PORT = "PORT"
BRIDGE_PORT = "EVENTFN_BRIDGE_PORT"
ALERTMANAGER_PORT = "EVENTFN_ALERTMANAGER_PORT"
GATEWAY_URL = "GATEWAY_URL"

Port = Annotated[int, Field(gt=0, lt=65536)]


def _command(text: str) -> tuple[str, ...] | None:
    return tuple(shlex.split(text)) or None


def _names(text: str) -> tuple[str, ...]:
    return tuple(name.strip() for name in text.split(",") if name.strip())


@dataclass(frozen=True)
class Settings(EnvSettings):
    """Where the run lives, which ports it uses, and which services are external."""

    root: Path = ROOT
    run_dir: Path = env(RUN_DIR, ROOT / ".run", parse=lambda text: Path(text).resolve())
    kafka_port: Port = env(KAFKA_PORT, 9092)
    # 9093 is Alertmanager's
    kafka_controller_port: Port = env(KAFKA_CONTROLLER_PORT, 9095)
    pg_port: Port = env(PG_PORT, 54320)
    gateway_port: Port = env(GATEWAY_PORT, 8080)
    bridge_port: Port = env(BRIDGE_PORT, 8081)
    alertmanager_port: Port = env(ALERTMANAGER_PORT, 9093)
    # None: eventfn starts its own
    external_kafka: str | None = env(KAFKA_BOOTSTRAP_SERVERS, None)
    external_database_url: str | None = env(DATABASE_URL, None, secret=True)
    external_alertmanager: str | None = env(ALERTMANAGER_URL, None)
    # the embedded Alertmanager's configuration: routes, receivers, inhibitions
    alertmanager_config: Path = env(
        "EVENTFN_ALERTMANAGER_CONFIG",
        ROOT / "infra" / "alertmanager.yml",
        parse=lambda text: Path(text).resolve(),
    )
    # the alert function's rule file, when not the one its func.yaml names
    alert_rules: Path | None = env("EVENTFN_ALERT_RULES", None)
    # the functions the bridge feeds, each at the gateway's /invoke/{id}; None:
    # persist and alert, and archive when a bucket is configured
    bridge_functions_given: tuple[str, ...] | None = env(
        "EVENTFN_BRIDGE_FUNCTIONS", None, parse=_names
    )
    # Liveness probes of the supervised components once healthy, as a kubelet's
    # periodSeconds and failureThreshold: a component that misses this many in
    # a row (stopped, deadlocked) is killed and restarted. 0 s: no probes.
    liveness_period_s: float = env("EVENTFN_LIVENESS_PERIOD_S", 2.0)
    liveness_failures: int = env("EVENTFN_LIVENESS_FAILURES", 3)
    # the archive function's bucket; None: nothing is archived
    archive_bucket: str | None = env(ARCHIVE_BUCKET, None)
    # Test hooks: a command line that replaces `python -m gateway` / `python -m bridge`.
    gateway_cmd: tuple[str, ...] | None = env("EVENTFN_GATEWAY_CMD", None, parse=_command)
    bridge_cmd: tuple[str, ...] | None = env("EVENTFN_BRIDGE_CMD", None, parse=_command)

    @property
    def liveness(self) -> Liveness:
        return Liveness(self.liveness_period_s, max(1, self.liveness_failures))

    @property
    def bridge_functions(self) -> tuple[str, ...]:
        """The functions the bridge feeds: as given, else persist and alert,
        and archive when a bucket is configured."""
        if self.bridge_functions_given is not None:
            return self.bridge_functions_given
        return ("persist", "alert", "archive") if self.archive_bucket else ("persist", "alert")

    @property
    def run(self) -> RunDir:
        """The run directory's layout."""
        return RunDir(self.run_dir)

    @property
    def embedded_kafka(self) -> bool:
        """True when eventfn starts its own broker."""
        return self.external_kafka is None

    @property
    def embedded_postgres(self) -> bool:
        """True when eventfn starts its own PostgreSQL cluster."""
        return self.external_database_url is None

    @property
    def embedded_alertmanager(self) -> bool:
        """True when eventfn starts its own Alertmanager."""
        return self.external_alertmanager is None

    @property
    def alertmanager_url(self) -> str:
        """The Alertmanager the alert function tells, and its UI."""
        return self.external_alertmanager or f"http://127.0.0.1:{self.alertmanager_port}"

    @property
    def bootstrap_servers(self) -> str:
        """The Kafka bootstrap servers every component uses."""
        return self.external_kafka or f"127.0.0.1:{self.kafka_port}"

    @property
    def gateway_url(self) -> str:
        """Where the gateway listens, as the bridge and clients reach it."""
        return f"http://127.0.0.1:{self.gateway_port}"

    @property
    def bridge_url(self) -> str:
        """Where the bridge serves its health endpoints."""
        return f"http://127.0.0.1:{self.bridge_port}"

    def __repr__(self) -> str:
        db = mask_url(self.external_database_url) if self.external_database_url else None
        return (
            f"Settings(run_dir={str(self.run_dir)!r}, kafka={self.bootstrap_servers!r}, "
            f"kafka_controller_port={self.kafka_controller_port}, pg_port={self.pg_port}, "
            f"gateway_port={self.gateway_port}, bridge_port={self.bridge_port}, "
            f"external_database_url={db!r})"
        )


def settings_for(parser: argparse.ArgumentParser) -> Settings:
    """The run's settings for a command-line tool: a bad variable is a usage error."""
    try:
        return Settings.from_env()
    except SettingsError as error:
        parser.error(str(error))


@dataclass(frozen=True)
class JavaSettings(EnvSettings):
    """Which Java runs Kafka and its tools: ``$JAVA_HOME/bin/java``, else the one on PATH."""

    java_home: Path | None = env("JAVA_HOME", None)
