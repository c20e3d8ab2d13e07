"""Redrive settings: the bridge's own names, so it reads the dead-letter topic the
bridge writes and replays into the topic the bridge reads."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from gateway.bridge.settings import BridgeSettings
from gateway.redrive.errors import RedriveError

# With the bridge's prefix, as its groups are: eventfn-persist, eventfn-alert, eventfn-redrive.
GROUP_NAME = "redrive"


@dataclass(frozen=True)
class RedriveSettings:
    """Where dead letters are read from and replayed to, and how long Kafka may take."""

    bootstrap_servers: str
    dead_letter_topic: str
    topic: str
    group: str
    timeout_s: float = 10.0

    @classmethod
    def from_env(
        cls, environ: Mapping[str, str] | None = None, *, timeout_s: float | None = None
    ) -> RedriveSettings:
        """Explicit arguments win over the environment, which wins over the defaults."""
        env = os.environ if environ is None else environ
        try:
            # Explicit targets: the redrive invokes no function, so app.yaml is not read.
            bridge = BridgeSettings.from_env(env, targets={})
        except ValueError as error:
            raise RedriveError(f"the bridge's settings in the environment: {error}") from None
        return cls(
            bootstrap_servers=bridge.bootstrap_servers,
            dead_letter_topic=bridge.dead_letter_topic,
            topic=bridge.topic,
            group=bridge.group_prefix + GROUP_NAME,
            timeout_s=cls.timeout_s if timeout_s is None else timeout_s,
        )
