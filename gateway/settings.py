"""Gateway settings: every name in one place, read once per process."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

import yaml

from gateway.errors import ConfigError
from gateway.scaling.config import ClusterDefaults, ScalingConfigError

ROOT = Path(__file__).resolve().parent.parent
MIB = 1024 * 1024


@dataclass(frozen=True)
class GatewaySettings:
    """How the gateway runs; ``environ`` is the snapshot function config may take values from."""

    host: str = "127.0.0.1"
    port: int = 8080
    root: Path = ROOT
    run_dir: Path = ROOT / ".run"
    max_body_bytes: int = 6 * MIB
    # The whole body must arrive within this (a client trickling it is cut off).
    read_timeout_s: float = 30.0
    # The default max-scale of a function whose annotations set none (Knative's
    # is unlimited; a laptop's is not).
    max_instances: int = 4
    # Knative's config-autoscaler keys (YAML) for every function: windows,
    # targets, scale to zero... (see gateway/scaling/config.py).
    autoscaler_config: Path | None = None
    start_timeout_s: float = 10.0
    shutdown_grace_s: float = 10.0
    retry_after_s: int = 1
    fdk: Path = Path(sys.executable).parent / "fdk"
    # keyId -> PEM public key; when set, every OCI API request must be signed.
    oci_keys: Path | None = None
    oci_compartment_id: str = "ocid1.compartment.oc1..eventfn"
    # API keys for /publish, triggers, /invoke, the Fn API and /metrics (see access.py).
    api_keys: Path | None = None
    # Single-function mode (Knative's runtime contract): only this function of
    # app.yaml runs, and it answers at every path (see single.py).
    function: str | None = None
    environ: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}), repr=False)

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **explicit: object
    ) -> GatewaySettings:
        """Explicit arguments win over the environment, which wins over the defaults."""
        env = dict(os.environ if environ is None else environ)
        root = Path(env.get("EVENTFN_ROOT", str(ROOT)))
        values: dict[str, object] = {
            "host": env.get("EVENTFN_HOST", cls.host),
            "port": int(env.get("PORT", cls.port)),
            "root": root,
            "run_dir": Path(env.get("EVENTFN_RUN_DIR", str(root / ".run"))),
            "max_body_bytes": int(env.get("EVENTFN_MAX_BODY_BYTES", cls.max_body_bytes)),
            "read_timeout_s": float(env.get("EVENTFN_READ_TIMEOUT_S", cls.read_timeout_s)),
            "max_instances": int(env.get("EVENTFN_MAX_INSTANCES", cls.max_instances)),
            "start_timeout_s": float(env.get("EVENTFN_START_TIMEOUT_S", cls.start_timeout_s)),
            "shutdown_grace_s": float(env.get("EVENTFN_SHUTDOWN_GRACE_S", cls.shutdown_grace_s)),
            "retry_after_s": int(env.get("EVENTFN_RETRY_AFTER_S", cls.retry_after_s)),
            "fdk": Path(env.get("EVENTFN_FDK", str(cls.fdk))),
            "oci_keys": Path(env["EVENTFN_OCI_KEYS"]) if env.get("EVENTFN_OCI_KEYS") else None,
            "oci_compartment_id": env.get("EVENTFN_OCI_COMPARTMENT_ID", cls.oci_compartment_id),
            "api_keys": Path(env["EVENTFN_API_KEYS"]) if env.get("EVENTFN_API_KEYS") else None,
            "function": env.get("EVENTFN_FUNCTION") or None,
            "autoscaler_config": (
                Path(env["EVENTFN_AUTOSCALER_CONFIG"])
                if env.get("EVENTFN_AUTOSCALER_CONFIG")
                else None
            ),
            "environ": MappingProxyType(env),
        }
        values.update(explicit)
        return cls(**values)  # type: ignore[arg-type]

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
    def logs_dir(self) -> Path:
        return self.run_dir / "logs"

    @property
    def catalog_path(self) -> Path:
        """Where apps, functions and triggers live between restarts."""
        return self.run_dir / "catalog.db"
