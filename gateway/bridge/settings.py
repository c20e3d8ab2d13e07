"""Bridge settings: every name in one place, read once per process."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType

from gateway.bridge.delivery import RetryPolicy
from gateway.registry import function_id, load_app
from gateway.settings import MIB, ROOT


@dataclass(frozen=True)
class BridgeSettings:
    """How the bridge consumes, batches, invokes and retries."""

    bootstrap_servers: str = "127.0.0.1:9092"
    topic: str = "events"
    dead_letter_topic: str = "events.dlq"
    # function name -> the URL a batch is POSTed to (the gateway's /invoke/{id}
    # locally, a Knative Service's URL in a cluster)
    targets: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    group_prefix: str = "eventfn-"
    max_batch: int = 500
    max_batch_bytes: int = 5 * MIB
    batch_window_s: float = 0.05
    request_timeout_s: float = 70.0
    max_attempts: int = 5
    # 0: none. Lambda's MaximumRecordAge: a failing record older than this is
    # dead-lettered rather than retried, even while the function is down.
    max_record_age_s: float = 0.0
    # records taken from Kafka and not finished, per function, before fetching pauses
    max_in_flight: int = 5000
    session_timeout_ms: int = 45000
    backoff_initial_s: float = 0.5
    backoff_cap_s: float = 30.0
    # sent as a bearer token when the gateway requires API keys; never logged
    api_key: str | None = field(default=None, repr=False)
    host: str = "127.0.0.1"
    port: int = 8081
    # within the supervisor's stop timeout (20 s), which then kills
    shutdown_grace_s: float = 15.0

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts, self.max_record_age_s, self.backoff_initial_s, self.backoff_cap_s
        )

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, **explicit: object
    ) -> BridgeSettings:
        """Explicit arguments win over the environment, which wins over the defaults."""
        env = os.environ if environ is None else environ
        values: dict[str, object] = {
            "bootstrap_servers": env.get("KAFKA_BOOTSTRAP_SERVERS", cls.bootstrap_servers),
            "topic": env.get("EVENTFN_EVENTS_TOPIC", cls.topic),
            "dead_letter_topic": env.get("EVENTFN_DLQ_TOPIC", cls.dead_letter_topic),
            "group_prefix": env.get("EVENTFN_BRIDGE_GROUP_PREFIX", cls.group_prefix),
            "max_batch": int(env.get("EVENTFN_BRIDGE_MAX_BATCH", cls.max_batch)),
            "max_batch_bytes": int(env.get("EVENTFN_BRIDGE_MAX_BATCH_BYTES", cls.max_batch_bytes)),
            "batch_window_s": float(env.get("EVENTFN_BRIDGE_WINDOW_S", cls.batch_window_s)),
            "request_timeout_s": float(
                env.get("EVENTFN_BRIDGE_REQUEST_TIMEOUT_S", cls.request_timeout_s)
            ),
            "max_attempts": int(env.get("EVENTFN_BRIDGE_MAX_ATTEMPTS", cls.max_attempts)),
            "max_record_age_s": float(
                env.get("EVENTFN_BRIDGE_MAX_RECORD_AGE_S", cls.max_record_age_s)
            ),
            "max_in_flight": int(env.get("EVENTFN_BRIDGE_MAX_IN_FLIGHT", cls.max_in_flight)),
            "session_timeout_ms": int(
                env.get("EVENTFN_BRIDGE_SESSION_TIMEOUT_MS", cls.session_timeout_ms)
            ),
            "backoff_initial_s": float(
                env.get("EVENTFN_BRIDGE_BACKOFF_INITIAL_S", cls.backoff_initial_s)
            ),
            "backoff_cap_s": float(env.get("EVENTFN_BRIDGE_BACKOFF_CAP_S", cls.backoff_cap_s)),
            "api_key": env.get("EVENTFN_BRIDGE_API_KEY") or None,
            "host": env.get("EVENTFN_BRIDGE_HOST", cls.host),
            "port": int(env.get("EVENTFN_BRIDGE_PORT", cls.port)),
            "shutdown_grace_s": float(env.get("EVENTFN_SHUTDOWN_GRACE_S", cls.shutdown_grace_s)),
        }
        if "targets" not in explicit:
            values["targets"] = MappingProxyType(_targets(env))
        values.update(explicit)
        return cls(**values)  # type: ignore[arg-type]


def _targets(env: Mapping[str, str]) -> dict[str, str]:
    """``EVENTFN_BRIDGE_TARGETS=persist=URL,alert=URL``; by default the gateway's
    invoke URL of each function named in ``EVENTFN_BRIDGE_FUNCTIONS``."""
    if explicit := env.get("EVENTFN_BRIDGE_TARGETS", "").strip():
        pairs = (item.split("=", 1) for item in explicit.split(",") if item.strip())
        return {name.strip(): url.strip() for name, url in pairs}
    gateway = env.get("GATEWAY_URL", "http://127.0.0.1:8080").rstrip("/")
    app = load_app(Path(env.get("EVENTFN_ROOT", str(ROOT))))
    names = [n.strip() for n in env.get("EVENTFN_BRIDGE_FUNCTIONS", "persist,alert").split(",")]
    # The gateway deploys declared functions under these IDs (and keeps them).
    return {
        name: f"{gateway}/invoke/{function_id(app.name, app.function_named(name).name)}"
        for name in names
    }
