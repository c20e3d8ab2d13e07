"""Replay settings: the archive's bucket, as the archive function reads it, and
the Kafka topic the bridge reads, which the events go back into."""

from __future__ import annotations

from dataclasses import dataclass

from eventio.settings import ArchiveSettings, KafkaSettings, TopicSettings


@dataclass(frozen=True)
class ReplaySettings(KafkaSettings, TopicSettings, ArchiveSettings):
    """Where archived events are read from and produced to, and how long Kafka may take."""

    # --timeout, not a variable
    timeout_s: float = 10.0
