"""Settings from the environment: the one reader every eventfn process uses.

A process's settings are a frozen dataclass whose fields name the variable
they come from (:func:`env`). :meth:`EnvSettings.from_env` resolves them once:
an explicit argument wins over the environment, which wins over the field's
default, and an empty variable counts as unset. pydantic parses each value by
its field's type and constraints, so a value that does not fit is a
:class:`SettingsError` naming the variable and the value.

The variables several processes share are declared once here, in small
groups (:class:`KafkaSettings`, :class:`TopicSettings`) that each process's
settings inherit, with the limits they share.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Self
from urllib.parse import urlsplit, urlunsplit

from pydantic import Field, TypeAdapter, ValidationError

MIB = 1024 * 1024
# The largest request body the gateway and publish take (OCI Functions' limit).
MAX_BODY_BYTES = 6 * MIB

# Standard names, read by more than one process with defaults of their own.
KAFKA_BOOTSTRAP_SERVERS = "KAFKA_BOOTSTRAP_SERVERS"
DATABASE_URL = "DATABASE_URL"
RUN_DIR = "EVENTFN_RUN_DIR"
SHUTDOWN_GRACE_S = "EVENTFN_SHUTDOWN_GRACE_S"
ALERTMANAGER_URL = "ALERTMANAGER_URL"
ARCHIVE_BUCKET = "EVENTFN_ARCHIVE_BUCKET"
# boto3's addressing styles: bucket in the path, in the host name, or boto3's choice.
ADDRESSING_STYLES = ("path", "virtual", "auto")


class SettingsError(ValueError):
    """A variable holds a value that cannot be used; names the variable and the value."""


def env(
    name: str,
    default: Any = dataclasses.MISSING,
    *,
    factory: Any = dataclasses.MISSING,
    parse: Callable[[str], Any] | None = None,
    secret: bool = False,
) -> Any:
    """A settings field read from the variable ``name``, else ``default`` (or
    ``factory()``); ``parse`` turns the text into the field's type where
    pydantic cannot (a list of pairs, a command line). A ``secret`` never
    appears in the settings' repr."""
    return dataclasses.field(
        default=default,
        default_factory=factory,
        repr=not secret,
        metadata={"env": name, "parse": parse},
    )


@dataclass(frozen=True)
class EnvSettings:
    """The base of every process's settings."""

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, /, **explicit: Any) -> Self:
        """Explicit arguments win over the environment, which wins over the defaults."""
        source = os.environ if environ is None else environ
        values = dict(explicit)
        hints = typing.get_type_hints(cls, include_extras=True)
        for item in dataclasses.fields(cls):
            name = item.metadata.get("env")
            if name is None or item.name in values:
                continue
            raw = source.get(name, "").strip()
            if raw:
                values[item.name] = _parse(name, raw, hints[item.name], item.metadata["parse"])
        return cls(**values)


@dataclass(frozen=True)
class KafkaSettings(EnvSettings):
    """Where the Kafka cluster is."""

    bootstrap_servers: str = env(KAFKA_BOOTSTRAP_SERVERS, "127.0.0.1:9092")


@dataclass(frozen=True)
class TopicSettings(EnvSettings):
    """eventfn's topics: events in, alerts out, and the dead letters of events."""

    events_topic: str = env("EVENTFN_EVENTS_TOPIC", "events")
    alerts_topic: str = env("EVENTFN_ALERTS_TOPIC", "alerts")
    dead_letter_topic: str = env("EVENTFN_DLQ_TOPIC", "events.dlq")


def _addressing(text: str) -> str:
    if text not in ADDRESSING_STYLES:
        raise ValueError(f"{text!r} is not one of {', '.join(ADDRESSING_STYLES)}")
    return text


@dataclass(frozen=True)
class ArchiveSettings(EnvSettings):
    """The bucket the archive function writes and replay-archive reads.

    Credentials are boto3's own (``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY``,
    ``AWS_SESSION_TOKEN``, a profile or a role) and so is ``AWS_ENDPOINT_URL``;
    the region is read here because boto3 takes an empty one as a region name.
    """

    # empty: nothing is archived (run-all.sh then feeds no archive function)
    archive_bucket: str = env(ARCHIVE_BUCKET, "")
    # a folder of the bucket the objects are put under, e.g. "eventfn/"
    archive_prefix: str = env("EVENTFN_ARCHIVE_PREFIX", "")
    # wins over AWS_ENDPOINT_URL; neither: AWS S3 itself
    archive_endpoint_url: str = env("EVENTFN_ARCHIVE_ENDPOINT_URL", "")
    archive_region: str = env("AWS_DEFAULT_REGION", "us-east-1")
    # path-style (https://host/bucket/key) is what OCI's S3 Compatibility API
    # and MinIO expect; AWS takes both
    archive_addressing: str = env("EVENTFN_ARCHIVE_ADDRESSING", "path", parse=_addressing)
    # Each partition's offsets are cut into blocks of this many, and an
    # object holds the events of one type, hour and block: see
    # eventcore/archive_layout.py.
    archive_block_offsets: Annotated[int, Field(gt=0)] = env("EVENTFN_ARCHIVE_BLOCK_OFFSETS", 1000)
    # If-Match / If-None-Match on every PUT (AWS S3, MinIO and moto honour
    # them); off for a store that refuses conditional requests
    archive_conditional_writes: bool = env("EVENTFN_ARCHIVE_CONDITIONAL_WRITES", True)
    archive_timeout_s: float = env("EVENTFN_ARCHIVE_TIMEOUT_S", 20.0)


@dataclass(frozen=True)
class FunctionSettings(KafkaSettings, TopicSettings, ArchiveSettings):
    """What a function reads from its configuration (func.yaml ``config:`` and env)."""

    database_url: str = env(DATABASE_URL, "", secret=True)
    default_source: str = env("EVENTFN_DEFAULT_SOURCE", "/eventfn/publish")
    max_body_bytes: int = env("EVENTFN_MAX_BODY_BYTES", MAX_BODY_BYTES)
    produce_timeout_s: float = env("EVENTFN_PRODUCE_TIMEOUT_S", 10.0)
    alert_rules: Path = env("EVENTFN_ALERT_RULES", Path("rules.yaml"))
    # empty: firing and resolving are not told to any Alertmanager
    alertmanager_url: str = env(ALERTMANAGER_URL, "")
    # how often a firing alert is told again (Prometheus' resend delay)
    alert_resend_s: float = env("EVENTFN_ALERT_RESEND_S", 60.0)
    # where an alert's generatorURL points: the gateway serving the instance
    alert_generator_url: str = env("EVENTFN_ALERT_GENERATOR_URL", "http://127.0.0.1:8080")


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


@cache
def _adapter(hint: Any) -> TypeAdapter[Any]:
    return TypeAdapter(hint)


def _parse(name: str, raw: str, hint: Any, parse: Callable[[str], Any] | None) -> Any:
    try:
        return _adapter(hint).validate_python(parse(raw) if parse else raw)
    except ValidationError as error:
        problem = error.errors(include_url=False)[0]["msg"]
        raise SettingsError(f"{name}={raw!r}: {problem}") from None
    except ValueError as error:
        raise SettingsError(f"{name}={raw!r}: {error}") from None
