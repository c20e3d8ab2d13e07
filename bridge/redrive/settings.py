"""Redrive settings: the bridge's own names, so it reads the dead-letter topic the
bridge writes and replays into the topic the bridge reads."""

from __future__ import annotations

from dataclasses import dataclass

from bridge.settings import GroupSettings

# With the bridge's prefix, as its groups are: eventfn-persist, eventfn-alert, eventfn-redrive.
GROUP_NAME = "redrive"


@dataclass(frozen=True)
class RedriveSettings(GroupSettings):
    """Where dead letters are read from and replayed to, and how long Kafka may take."""

    # --timeout, not a variable
    timeout_s: float = 10.0

    @property
    def group(self) -> str:
        return self.group_prefix + GROUP_NAME
