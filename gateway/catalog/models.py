"""Apps, functions and triggers as the Fn server's API v2 defines them: the
records, and the rules a create or an update must pass, with the server's own
messages. Pure: the store and the routes do the I/O (their JSON is in views).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar
from urllib.parse import quote

import orjson

from gateway.errors import BadRequestError, ConflictError
from gateway.scaling import config as scaling

MAX_NAME = 255
MAX_MEMORY_MB = 8 * 1024
MAX_TIMEOUT_S = 300
MAX_IDLE_TIMEOUT_S = 3600
DEFAULT_MEMORY_MB = 128
DEFAULT_TIMEOUT_S = 30
DEFAULT_IDLE_TIMEOUT_S = 30
SHAPES = ("GENERIC_X86", "GENERIC_ARM", "GENERIC_X86_ARM")
SYSLOG_SCHEMES = ("udp", "tcp", "unix", "unixgram", "tcp+tls")
TRIGGER_TYPES = ("http",)
_MAX_ANNOTATION_KEY = 128
_MAX_ANNOTATION_VALUE = 512
_MAX_ANNOTATIONS = 100
_MAX_ANNOTATION_DEPTH = 32
# A config entry becomes an environment variable of the function's processes.
_CONFIG_KEY = re.compile(r"[^=\x00]+")
_ANNOTATION_KEY = re.compile(r"[!-~]+")

Config = Mapping[str, str]
Annotations = Mapping[str, Any]


@dataclass(frozen=True)
class AppRecord:
    id: str
    name: str
    created_at: datetime
    updated_at: datetime
    config: Config = field(default_factory=dict)
    annotations: Annotations = field(default_factory=dict)
    syslog_url: str | None = None
    shape: str = ""


@dataclass(frozen=True)
class FnRecord:
    id: str
    name: str
    app_id: str
    image: str
    created_at: datetime
    updated_at: datetime
    memory: int = DEFAULT_MEMORY_MB
    timeout: int = DEFAULT_TIMEOUT_S
    idle_timeout: int = DEFAULT_IDLE_TIMEOUT_S
    config: Config = field(default_factory=dict)
    annotations: Annotations = field(default_factory=dict)
    shape: str = ""


@dataclass(frozen=True)
class TriggerRecord:
    id: str
    name: str
    app_id: str
    fn_id: str
    type: str
    source: str
    created_at: datetime
    updated_at: datetime
    annotations: Annotations = field(default_factory=dict)


Record = AppRecord | FnRecord | TriggerRecord
_R = TypeVar("_R", AppRecord, FnRecord, TriggerRecord)


# -- reading a request body -------------------------------------------------


def parse_object(body: bytes) -> dict[str, Any]:
    """The JSON object a create or update sends; Fn answers "Invalid JSON" otherwise."""
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise BadRequestError(fields=str(error)) from None
    if not isinstance(document, dict):
        raise BadRequestError(fields="the body must be a JSON object")
    return document


def _string(doc: Mapping[str, Any], key: str) -> str:
    value = doc.get(key)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequestError(fields=f"{key}: must be a string")
    return value


def _int32(doc: Mapping[str, Any], key: str) -> int:
    """A Go int32 field (0 when absent: "use the default"); Go refuses 1.0 or 1e3."""
    value = _integer(doc, key)
    if not -(2**31) <= value < 2**31:
        raise BadRequestError(fields=f"{key}: out of range")
    return value


def _uint64(doc: Mapping[str, Any], key: str) -> int:
    value = _integer(doc, key)
    if not 0 <= value < 2**64:
        raise BadRequestError(fields=f"{key}: must be a whole number from 0")
    return value


def _integer(doc: Mapping[str, Any], key: str) -> int:
    value = doc.get(key)
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, int):
        raise BadRequestError(fields=f"{key}: must be a whole number")
    return value


def _config(doc: Mapping[str, Any]) -> dict[str, str] | None:
    value = doc.get("config")
    if value is None:
        return None
    if not isinstance(value, dict) or not all(
        v is None or isinstance(v, str) for v in value.values()
    ):
        raise BadRequestError(fields="config: must be an object of strings")
    for key, item in value.items():
        if not _CONFIG_KEY.fullmatch(key) or "\x00" in (item or ""):
            raise BadRequestError(
                f"Invalid config key {key!r}: a config entry is an environment variable, "
                "so its key must be non-empty, without '=' or NUL, and its value without NUL"
            )
    # Go decodes null into a string map as "", which an update takes as "remove".
    return {k: v or "" for k, v in value.items()}


def _annotations(doc: Mapping[str, Any]) -> dict[str, Any] | None:
    value = doc.get("annotations")
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadRequestError(fields="annotations: must be an object")
    return dict(value)


def _refuse_server_fields(doc: Mapping[str, Any], id_message: str) -> None:
    if _string(doc, "id"):
        raise BadRequestError(id_message)


# -- validation, in the order the Fn server checks ---------------------------


def _is_empty(value: Any) -> bool:
    return value is None or value == ""


def _nests_deeper_than(value: Any, levels: int) -> bool:
    """Whether objects and arrays in ``value`` nest more than ``levels`` deep.
    Not recursive: a body may nest as deep as the JSON parser allows (1024),
    which is deeper than Python's stack."""
    pending = [(value, 1)]
    while pending:
        item, level = pending.pop()
        if isinstance(item, dict | list):
            if level > levels:
                return True
            children = item.values() if isinstance(item, dict) else item
            pending.extend((child, level + 1) for child in children)
    return False


def _check_annotations(annotations: Annotations) -> None:
    for key, value in annotations.items():
        if not _ANNOTATION_KEY.fullmatch(key):
            raise BadRequestError(
                "Invalid annotation key, annotation keys must be non-empty ascii strings "
                "excluding whitespace"
            )
        if len(key.encode()) > _MAX_ANNOTATION_KEY:
            raise BadRequestError(
                "Invalid annotation key length, annotation keys may not be larger than "
                f"{_MAX_ANNOTATION_KEY} bytes"
            )
        if _is_empty(value):
            raise BadRequestError(
                "Invalid annotation value, annotation values may only be non-empty strings, "
                "numbers, objects, or arrays"
            )
        # Fn has no depth rule, but within 512 bytes a value can nest deeper
        # than a JSON encoder allows; no annotation needs more than a few levels.
        if _nests_deeper_than(value, _MAX_ANNOTATION_DEPTH):
            raise BadRequestError(
                "Invalid annotation value, annotation values may not be nested more than "
                f"{_MAX_ANNOTATION_DEPTH} levels deep"
            )
        if len(orjson.dumps(value)) > _MAX_ANNOTATION_VALUE:
            raise BadRequestError(
                "Invalid annotation value length, annotation values may not be larger than "
                f"{_MAX_ANNOTATION_VALUE} bytes when serialized as JSON"
            )
    if len(annotations) > _MAX_ANNOTATIONS:
        raise BadRequestError(
            "Invalid annotation change, new key(s) exceed maximum permitted number of "
            f"annotations keys ({_MAX_ANNOTATIONS})"
        )


def _merge_annotations(current: Annotations, change: Annotations | None) -> dict[str, Any]:
    """Fn's patch rule: a key set to "" or null is removed, any other is set."""
    merged = dict(current)
    for key, value in (change or {}).items():
        if _is_empty(value):
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _merge_config(current: Config, change: Config | None) -> dict[str, str]:
    merged = dict(current)
    for key, value in (change or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged


def _is_word(name: str) -> bool:
    return all(c.isalnum() or c in "_-" for c in name)


def _check_app(app: AppRecord) -> None:
    if not app.name:
        raise BadRequestError("Missing Name")
    if len(app.name.encode()) > MAX_NAME:
        raise BadRequestError(f"App name must be {MAX_NAME} characters or less")
    if not _is_word(app.name):
        raise BadRequestError("Invalid app name")
    _check_annotations(app.annotations)
    if app.syslog_url:
        scheme = app.syslog_url.strip().partition("://")[0]
        if scheme not in SYSLOG_SCHEMES:
            raise BadRequestError(
                f'invalid syslog url: "{app.syslog_url}" invalid scheme, only '
                "[tcp, udp, unix, unixgram, tcp+tls] are supported"
            )
    if app.shape and app.shape not in SHAPES:
        raise BadRequestError("Invalid app shape")


def _check_fn(fn: FnRecord) -> None:
    if not fn.name:
        raise BadRequestError("Missing Fn name")
    if len(fn.name.encode()) > MAX_NAME:
        raise BadRequestError(f"Fn name must be {MAX_NAME} characters or less")
    if quote(fn.name, safe="$&+:=@") != fn.name:
        raise BadRequestError("name must be a valid string")
    if not fn.app_id:
        raise BadRequestError("Missing AppID on Fn")
    if not fn.image:
        raise BadRequestError("Missing image on Fn")
    if not 0 < fn.timeout <= MAX_TIMEOUT_S:
        raise BadRequestError(
            f"timeout value is out of range, must be between 0 and {MAX_TIMEOUT_S}"
        )
    if not 0 < fn.idle_timeout <= MAX_IDLE_TIMEOUT_S:
        raise BadRequestError(
            f"idle_timeout value is out of range, must be between 0 and {MAX_IDLE_TIMEOUT_S}"
        )
    if not 1 <= fn.memory <= MAX_MEMORY_MB:
        raise BadRequestError(
            f"memory value is out of range. It should be between 0 and {MAX_MEMORY_MB}"
        )
    _check_annotations(fn.annotations)
    try:
        # Knative's admission check: an autoscaling annotation it would refuse
        # is refused here, not when the function next scales.
        scaling.resolve(fn.annotations, scaling.ClusterDefaults())
    except scaling.ScalingConfigError as error:
        raise BadRequestError(f"Invalid annotation: {error}") from None


def _check_trigger(trigger: TriggerRecord) -> None:
    if not trigger.app_id:
        raise BadRequestError("Missing App ID on Trigger")
    if not trigger.name:
        raise BadRequestError("Missing name on Trigger")
    if len(trigger.name.encode()) > MAX_NAME:
        raise BadRequestError(f"Trigger name must be {MAX_NAME} characters or less")
    if not _is_word(trigger.name):
        raise BadRequestError("Invalid name for Trigger")
    if not trigger.fn_id:
        raise BadRequestError("Missing Fn ID on Trigger")
    if trigger.type not in TRIGGER_TYPES:
        raise BadRequestError("Trigger Type Not Supported")
    if not trigger.source:
        raise BadRequestError("Missing Trigger Source")
    if not trigger.source.startswith("/"):
        raise BadRequestError("Missing Trigger Source Prefix '/'")
    _check_annotations(trigger.annotations)


# -- create and update: a request body and the clock give a new record -------


def new_app(doc: Mapping[str, Any], app_id: str, now: datetime) -> AppRecord:
    _refuse_server_fields(doc, "App ID cannot be supplied on create")
    app = AppRecord(
        id=app_id,
        name=_string(doc, "name"),
        created_at=now,
        updated_at=now,
        config=_config(doc) or {},
        annotations=_annotations(doc) or {},
        syslog_url=_string(doc, "syslog_url") or None,
        shape=_string(doc, "shape"),
    )
    _check_app(app)
    return app


def updated_app(app: AppRecord, doc: Mapping[str, Any], now: datetime) -> AppRecord:
    if _string(doc, "id") not in ("", app.id):
        raise BadRequestError("App ID in path does not match ID in body")
    if _string(doc, "name") not in ("", app.name):
        raise ConflictError("Could not update - name is immutable")
    syslog = doc.get("syslog_url")
    changed = replace(
        app,
        config=_merge_config(app.config, _config(doc)),
        annotations=_merge_annotations(app.annotations, _annotations(doc)),
        syslog_url=app.syslog_url if syslog is None else (_string(doc, "syslog_url") or None),
    )
    _check_app(changed)
    return touched(app, changed, now)


def new_fn(doc: Mapping[str, Any], fn_id: str, now: datetime) -> FnRecord:
    """Fn's defaults fill what the body leaves out: 128 MB, 30 s, 30 s idle."""
    _refuse_server_fields(doc, "ID cannot be provided for Fn creation")
    if not _string(doc, "app_id"):
        raise BadRequestError("Missing AppID on Fn")
    if not _string(doc, "name"):
        raise BadRequestError("Missing Fn name")
    fn = FnRecord(
        id=fn_id,
        name=_string(doc, "name"),
        app_id=_string(doc, "app_id"),
        image=_string(doc, "image"),
        created_at=now,
        updated_at=now,
        memory=_uint64(doc, "memory") or DEFAULT_MEMORY_MB,
        timeout=_int32(doc, "timeout") or DEFAULT_TIMEOUT_S,
        idle_timeout=_int32(doc, "idle_timeout") or DEFAULT_IDLE_TIMEOUT_S,
        config=_config(doc) or {},
        annotations=_annotations(doc) or {},
    )
    _check_fn(fn)
    return fn


def updated_fn(fn: FnRecord, doc: Mapping[str, Any], now: datetime) -> FnRecord:
    """Only image, resources, config and annotations change; the name and app stay."""
    if _string(doc, "id") not in ("", fn.id):
        raise BadRequestError("Fn ID in path does not match that in body")
    changed = replace(
        fn,
        image=_string(doc, "image") or fn.image,
        memory=_uint64(doc, "memory") or fn.memory,
        timeout=_int32(doc, "timeout") or fn.timeout,
        idle_timeout=_int32(doc, "idle_timeout") or fn.idle_timeout,
        config=_merge_config(fn.config, _config(doc)),
        annotations=_merge_annotations(fn.annotations, _annotations(doc)),
    )
    _check_fn(changed)
    return touched(fn, changed, now)


def new_trigger(doc: Mapping[str, Any], trigger_id: str, now: datetime) -> TriggerRecord:
    _refuse_server_fields(doc, "ID cannot be provided for Trigger creation")
    if not _zero_time(doc.get("created_at")):
        raise BadRequestError("Trigger Created At Provided for Create")
    if not _zero_time(doc.get("updated_at")):
        raise BadRequestError("Trigger ID Provided for Create")  # sic: Fn's message
    trigger = TriggerRecord(
        id=trigger_id,
        name=_string(doc, "name"),
        app_id=_string(doc, "app_id"),
        fn_id=_string(doc, "fn_id"),
        type=_string(doc, "type"),
        source=_string(doc, "source"),
        created_at=now,
        updated_at=now,
        annotations=_annotations(doc) or {},
    )
    _check_trigger(trigger)
    return trigger


def updated_trigger(trigger: TriggerRecord, doc: Mapping[str, Any], now: datetime) -> TriggerRecord:
    if _string(doc, "id") not in ("", trigger.id):
        raise BadRequestError("ID in path does not match ID in body")
    if _string(doc, "app_id") not in ("", trigger.app_id):
        raise BadRequestError("Invalid Fn ID - not owned by specified app")
    changed = replace(
        trigger,
        name=_string(doc, "name") or trigger.name,
        fn_id=_string(doc, "fn_id") or trigger.fn_id,
        source=_string(doc, "source") or trigger.source,
        annotations=_merge_annotations(trigger.annotations, _annotations(doc)),
    )
    _check_trigger(changed)
    return touched(trigger, changed, now)


def _zero_time(value: Any) -> bool:
    """Absent, or Go's zero time, which Go clients send for a time they do not set."""
    return not value or (isinstance(value, str) and value.startswith("0001-01-01T00:00:00"))


def touched(before: _R, after: _R, now: datetime) -> _R:
    """``after``, with ``updated_at`` moved to ``now`` only when something changed."""
    return after if after == before else replace(after, updated_at=now)
