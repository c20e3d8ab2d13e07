"""Gateway settings: every name in one place, read once per process."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Annotated, Any, Self

import yaml
from pydantic import Field

from eventio.settings import MAX_BODY_BYTES, RUN_DIR, SHUTDOWN_GRACE_S, EnvSettings, env
from gateway.errors import ConfigError
from gateway.scaling.config import ClusterDefaults, ScalingConfigError

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class GatewaySettings(EnvSettings):
    """How the gateway runs; ``environ`` is the snapshot function config may take values from."""

    host: str = env("EVENTFN_HOST", "127.0.0.1")
    port: int = env("PORT", 8080)
    root: Path = env("EVENTFN_ROOT", ROOT)
    # None: ``root/.run`` (see run_path)
    run_dir: Path | None = env(RUN_DIR, None)
    max_body_bytes: int = env("EVENTFN_MAX_BODY_BYTES", MAX_BODY_BYTES)
    # The whole body must arrive within this (a client trickling it is cut off).
    read_timeout_s: float = env("EVENTFN_READ_TIMEOUT_S", 30.0)
    # A request's headers must be whole within this (see server.py).
    header_timeout_s: Annotated[float, Field(gt=0)] = env("EVENTFN_HEADER_TIMEOUT_S", 10.0)
    # An idle keep-alive connection is closed after this many seconds.
    keep_alive_s: int = env("EVENTFN_KEEP_ALIVE_S", 5)
    # Connections (or calls in flight) beyond which a request gets 503.
    max_connections: int = env("EVENTFN_MAX_CONNECTIONS", 1000)
    # The default max-scale of a function whose annotations set none (Knative's
    # is unlimited; a laptop's is not).
    max_instances: int = env("EVENTFN_MAX_INSTANCES", 4)
    # Knative's config-autoscaler keys (YAML) for every function: windows,
    # targets, scale to zero... (see gateway/scaling/config.py).
    autoscaler_config: Path | None = env("EVENTFN_AUTOSCALER_CONFIG", None)
    start_timeout_s: float = env("EVENTFN_START_TIMEOUT_S", 10.0)
    shutdown_grace_s: float = env(SHUTDOWN_GRACE_S, 10.0)
    retry_after_s: int = env("EVENTFN_RETRY_AFTER_S", 1)
    fdk: Path = env("EVENTFN_FDK", Path(sys.executable).parent / "fdk")
    # keyId -> PEM public key; when set, every OCI API request must be signed.
    oci_keys: Path | None = env("EVENTFN_OCI_KEYS", None)
    oci_compartment_id: str = env("EVENTFN_OCI_COMPARTMENT_ID", "ocid1.compartment.oc1..eventfn")
    # API keys for /publish, triggers, /invoke, the Fn API and /metrics (see access.py).
    api_keys: Path | None = env("EVENTFN_API_KEYS", None)
    # Single-function mode (Knative's runtime contract): only this function of
    # app.yaml runs, and it answers at every path (see single.py).
    function: str | None = env("EVENTFN_FUNCTION", None)
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **explicit: Any) -> Self:
        """As every process's settings, and the environment kept whole: a
        function's config takes a value the gateway's environment also sets."""
        snapshot = MappingProxyType(dict(os.environ if environ is None else environ))
        return super().from_env(snapshot, **{"environ": snapshot, **explicit})

    def autoscaler_defaults(self) -> ClusterDefaults:
        """The autoscaler's cluster defaults, from ``autoscaler_config`` if set;
        a bad file stops the gateway, naming the key."""
        if self.autoscaler_config is None:
            return ClusterDefaults.from_mapping({}, max_scale=self.max_instances)
        where = str(self.autoscaler_config)
        try:
            data = yaml.safe_load(self.autoscaler_config.read_text()) or {}
        except (OSError, yaml.YAMLError, ValueError, RecursionError) as error:
            raise ConfigError(f"{where}: cannot be read as YAML: {error}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{where}: must be a mapping of config-autoscaler keys")
        try:
            return ClusterDefaults.from_mapping(data, max_scale=self.max_instances)
        except ScalingConfigError as error:
            raise ConfigError(f"{where}: {error}") from None

    @property
    def run_path(self) -> Path:
        """The run directory: catalog, sockets and function logs."""
        return self.run_dir or self.root / ".run"

    @property
    def logs_dir(self) -> Path:
        return self.run_path / "logs"

    @property
    def catalog_path(self) -> Path:
        """Where apps, functions and triggers live between restarts."""
        return self.run_path / "catalog.db"
