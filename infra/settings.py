"""The local run's configuration, read once from the environment into a frozen object.

Precedence is explicit argument > environment > default: read with
:meth:`Settings.from_env`, then override single values with
``dataclasses.replace``.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from eventio.settings import mask_url
from infra.errors import SettingsError
from infra.rundir import RunDir

ROOT = Path(__file__).resolve().parent.parent

# The variables, in one place.
RUN_DIR = "EVENTFN_RUN_DIR"
KAFKA_PORT = "EVENTFN_KAFKA_PORT"
KAFKA_CONTROLLER_PORT = "EVENTFN_KAFKA_CONTROLLER_PORT"
PG_PORT = "EVENTFN_PG_PORT"
GATEWAY_PORT = "PORT"
BRIDGE_PORT = "EVENTFN_BRIDGE_PORT"
KAFKA_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
DATABASE_URL = "DATABASE_URL"
GATEWAY_URL = "GATEWAY_URL"
# Test hooks: a command line that replaces `python -m gateway` / `python -m gateway.bridge`.
GATEWAY_CMD = "EVENTFN_GATEWAY_CMD"
BRIDGE_CMD = "EVENTFN_BRIDGE_CMD"


@dataclass(frozen=True)
class Settings:
    """Where the run lives, which ports it uses, and which services are external."""

    root: Path
    run_dir: Path
    kafka_port: int = 9092
    kafka_controller_port: int = 9093
    pg_port: int = 54320
    gateway_port: int = 8080
    bridge_port: int = 8081
    external_kafka: str | None = None
    external_database_url: str | None = None
    gateway_cmd: tuple[str, ...] | None = None
    bridge_cmd: tuple[str, ...] | None = None

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        """Read every variable once; unset or empty means the default."""
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            value = env.get(name, "").strip()
            return value or None

        run_dir = text(RUN_DIR)
        return cls(
            root=ROOT,
            run_dir=Path(run_dir).resolve() if run_dir else ROOT / ".run",
            kafka_port=_port(env, KAFKA_PORT, 9092),
            kafka_controller_port=_port(env, KAFKA_CONTROLLER_PORT, 9093),
            pg_port=_port(env, PG_PORT, 54320),
            gateway_port=_port(env, GATEWAY_PORT, 8080),
            bridge_port=_port(env, BRIDGE_PORT, 8081),
            external_kafka=text(KAFKA_BOOTSTRAP_SERVERS),
            external_database_url=text(DATABASE_URL),
            gateway_cmd=_command(env, GATEWAY_CMD),
            bridge_cmd=_command(env, BRIDGE_CMD),
        )

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


def _port(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        port = int(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r} is not a port number") from None
    if not 0 < port < 65536:
        raise SettingsError(f"{name}={port} is outside 1-65535")
    return port


def _command(env: Mapping[str, str], name: str) -> tuple[str, ...] | None:
    raw = env.get(name, "").strip()
    if not raw:
        return None
    try:
        argv = tuple(shlex.split(raw))
    except ValueError as exc:
        raise SettingsError(f"{name} is not a valid command line: {exc}") from None
    return argv or None
