"""Function settings: every name in one place, read once per process."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

MIB = 1024 * 1024


@dataclass(frozen=True)
class FunctionSettings:
    """What a function reads from its configuration (func.yaml ``config:`` and env)."""

    kafka_bootstrap_servers: str = "127.0.0.1:9092"
    database_url: str = field(default="", repr=False)
    events_topic: str = "events"
    alerts_topic: str = "alerts"
    default_source: str = "/eventfn/publish"
    max_body_bytes: int = 6 * MIB
    produce_timeout_s: float = 10.0
    alert_rules: Path = Path("rules.yaml")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> FunctionSettings:
        env = os.environ if environ is None else environ
        defaults = cls()
        return cls(
            kafka_bootstrap_servers=env.get(
                "KAFKA_BOOTSTRAP_SERVERS", defaults.kafka_bootstrap_servers
            ),
            database_url=env.get("DATABASE_URL", defaults.database_url),
            events_topic=env.get("EVENTFN_EVENTS_TOPIC", defaults.events_topic),
            alerts_topic=env.get("EVENTFN_ALERTS_TOPIC", defaults.alerts_topic),
            default_source=env.get("EVENTFN_DEFAULT_SOURCE", defaults.default_source),
            max_body_bytes=int(env.get("EVENTFN_MAX_BODY_BYTES", defaults.max_body_bytes)),
            produce_timeout_s=float(
                env.get("EVENTFN_PRODUCE_TIMEOUT_S", defaults.produce_timeout_s)
            ),
            alert_rules=Path(env.get("EVENTFN_ALERT_RULES", str(defaults.alert_rules))),
        )

    def __repr__(self) -> str:
        return (
            f"FunctionSettings(kafka={self.kafka_bootstrap_servers!r}, "
            f"database={mask_url(self.database_url)!r}, events_topic={self.events_topic!r}, "
            f"alerts_topic={self.alerts_topic!r})"
        )


def mask_url(url: str) -> str:
    """The URL (or libpq ``key=value`` string) with its password as ``***``, safe to print."""
    if "://" not in url:
        return re.sub(r"(password\s*=\s*)('(?:[^'\\]|\\.)*'|\S+)", r"\1***", url)
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<unparseable url>"
    if parts.password is not None:
        userinfo, _, hostinfo = parts.netloc.rpartition("@")
        user = userinfo.split(":", 1)[0]
        parts = parts._replace(netloc=f"{user}:***@{hostinfo}")
    query = re.sub(r"(^|&)(password=)[^&]*", r"\1\2***", parts.query)
    return urlunsplit(parts._replace(query=query))
