"""Bridge settings: every name in one place, read once per process."""

from __future__ import annotations

import socket
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from bridge.delivery import RetryPolicy
from eventcore.cloudevent import BATCH
from eventcore.record_batch import RECORDS
from eventio.settings import MIB, SHUTDOWN_GRACE_S, KafkaSettings, TopicSettings, env

TARGETS = "EVENTFN_BRIDGE_TARGETS"
# What a batch's body is: the Kafka records as they are, which eventfn's
# functions read (record_batch.py), or structured CloudEvents as JSON, which
# any function can read.
BATCH_FORMATS = {"records": RECORDS, "cloudevents": BATCH}


def parse_batch_format(text: str) -> str:
    if text not in BATCH_FORMATS:
        raise ValueError(f"{text!r} is not one of {', '.join(BATCH_FORMATS)}")
    return BATCH_FORMATS[text]


def parse_targets(text: str) -> Mapping[str, str]:
    """``persist=URL,alert=URL``: each function's name and the URL its batches
    are POSTed to (the gateway's ``/invoke/{id}`` locally, a Knative Service's
    URL in a cluster)."""
    targets: dict[str, str] = {}
    for item in filter(None, (part.strip() for part in text.split(","))):
        name, equals, url = (piece.strip() for piece in item.partition("="))
        if not (name and equals and url):
            raise ValueError(f"{item!r} is not name=URL")
        if name in targets:
            raise ValueError(f"{name} is named twice")
        if not url.startswith(("http://", "https://")):
            raise ValueError(f"{name}: {url!r} is not an http(s) URL")
        targets[name] = url
    return MappingProxyType(targets)


@dataclass(frozen=True)
class GroupSettings(KafkaSettings, TopicSettings):
    """The bridge's Kafka side, which redrive shares: the groups are
    ``<prefix><function>`` (and ``<prefix>redrive``)."""

    group_prefix: str = env("EVENTFN_BRIDGE_GROUP_PREFIX", "eventfn-")


@dataclass(frozen=True)
class BridgeSettings(GroupSettings):
    """How the bridge consumes, batches, invokes and retries."""

    # function name -> the URL a batch is POSTed to
    targets: Mapping[str, str] = env(TARGETS, factory=dict, parse=parse_targets)
    # Consumers per function, each in the group with partitions of its own: as
    # many batches in flight to a function, each partition's in order.
    consumers: int = env("EVENTFN_BRIDGE_CONSUMERS", 2)
    # the batches' media type, from "records" or "cloudevents" (see BATCH_FORMATS)
    batch_type: str = env("EVENTFN_BRIDGE_BATCH_FORMAT", RECORDS, parse=parse_batch_format)
    max_batch: int = env("EVENTFN_BRIDGE_MAX_BATCH", 500)
    max_batch_bytes: int = env("EVENTFN_BRIDGE_MAX_BATCH_BYTES", 5 * MIB)
    # Lambda's MaximumBatchingWindowInSeconds: how long to wait for more records
    # once one has come, unless a full batch is there first. 0 sends at once,
    # but a batch of a few events costs a function call as a full one does.
    batch_window_s: float = env("EVENTFN_BRIDGE_WINDOW_S", 0.05)
    request_timeout_s: float = env("EVENTFN_BRIDGE_REQUEST_TIMEOUT_S", 70.0)
    max_attempts: int = env("EVENTFN_BRIDGE_MAX_ATTEMPTS", 5)
    # 0: none. Lambda's MaximumRecordAge: a failing record older than this is
    # dead-lettered rather than retried, even while the function is down.
    max_record_age_s: float = env("EVENTFN_BRIDGE_MAX_RECORD_AGE_S", 0.0)
    # records taken from Kafka and not finished, per function, before fetching pauses
    max_in_flight: int = env("EVENTFN_BRIDGE_MAX_IN_FLIGHT", 5000)
    session_timeout_ms: int = env("EVENTFN_BRIDGE_SESSION_TIMEOUT_MS", 45000)
    # Static group membership (Kafka's KIP-345): each consumer joins as
    # <instance_id>-<function>-<n>, so a bridge restarted under the same id
    # takes its partitions back at once instead of waiting out its dead
    # predecessor's session. One id per replica: the host name, which is the
    # pod's name in Kubernetes. Off: dynamic membership, as before.
    static_membership: bool = env("EVENTFN_BRIDGE_STATIC_MEMBERSHIP", True)
    instance_id: str = env("EVENTFN_BRIDGE_INSTANCE_ID", factory=socket.gethostname)
    # How often finished offsets are committed (and always on a revocation and
    # at stop), as Kafka's auto.commit.interval.ms: a commit per batch costs a
    # broker round trip each, and a crash redelivers at most this much more,
    # which the functions' idempotent writes absorb.
    commit_interval_s: float = env("EVENTFN_BRIDGE_COMMIT_INTERVAL_S", 1.0)
    backoff_initial_s: float = env("EVENTFN_BRIDGE_BACKOFF_INITIAL_S", 0.5)
    backoff_cap_s: float = env("EVENTFN_BRIDGE_BACKOFF_CAP_S", 30.0)
    # sent as a bearer token when the gateway requires API keys; never logged
    api_key: str | None = env("EVENTFN_BRIDGE_API_KEY", None, secret=True)
    host: str = env("EVENTFN_BRIDGE_HOST", "127.0.0.1")
    port: int = env("EVENTFN_BRIDGE_PORT", 8081)
    # within the supervisor's stop timeout (20 s), which then kills
    shutdown_grace_s: float = env(SHUTDOWN_GRACE_S, 15.0)

    def group_instance_id(self, function: str, index: int) -> str | None:
        """The static member id of ``function``'s consumer ``index``; None when dynamic."""
        return f"{self.instance_id}-{function}-{index}" if self.static_membership else None

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts, self.max_record_age_s, self.backoff_initial_s, self.backoff_cap_s
        )
