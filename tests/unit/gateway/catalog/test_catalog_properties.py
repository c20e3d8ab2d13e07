"""Properties of the catalog's rules: any request body is a record or one of the
API's own errors (a 400 or a 409), and a record that passed can be stored and shown."""

from dataclasses import asdict
from datetime import UTC, datetime

import orjson
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.catalog.models import (
    AppRecord,
    FnRecord,
    TriggerRecord,
    new_app,
    new_fn,
    new_trigger,
    parse_object,
    updated_app,
    updated_fn,
    updated_trigger,
)
from gateway.catalog.views import app_json, fn_json, trigger_json
from gateway.errors import BadRequestError, ConflictError

NOW = datetime(2026, 3, 1, tzinfo=UTC)
LATER = datetime(2026, 3, 2, tzinfo=UTC)

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**64 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
names = st.sampled_from(["app", "fn_1", "a-b", "é", "a b", "a/b", "x" * 256, ""]) | st.text(
    max_size=8
)
strings = st.none() | st.text(max_size=12) | json_values
integers = st.none() | st.integers(-(2**40), 2**40) | st.sampled_from([0, 1, 300, 301, 8192, 8193])
maps = st.none() | st.dictionaries(
    st.sampled_from(["K", "", "A=B", "a b", "x" * 129]) | st.text(max_size=6),
    st.none() | st.sampled_from(["", "v", "\x00"]) | json_values,
    max_size=4,
)
# Fn's fields with values of every kind, and any other field too.
documents = st.fixed_dictionaries(
    {},
    optional={
        "id": strings,
        "name": names | json_values,
        "app_id": strings,
        "fn_id": strings,
        "image": st.sampled_from(["eventfn/publish:0.1.0", ""]) | strings,
        "type": st.sampled_from(["http", "cron"]) | strings,
        "source": st.sampled_from(["/hook", "hook", "/"]) | strings,
        "memory": integers | json_values,
        "timeout": integers | json_values,
        "idle_timeout": integers | json_values,
        "config": maps | json_values,
        "annotations": maps | json_values,
        "syslog_url": st.sampled_from(["tcp://h:1", "http://h", " udp://x"]) | strings,
        "shape": st.sampled_from(["GENERIC_X86", "GENERIC_ARM", "ARM"]) | strings,
        "created_at": st.sampled_from(["0001-01-01T00:00:00Z", "2024-01-01T00:00:00Z"]) | strings,
        "updated_at": strings,
        "extra": json_values,
    },
)
# What orjson reads is what a body holds: documents go through it.
bodies = documents.map(orjson.dumps)
# Annotation values nested from not at all to deeper than Python's stack (but
# within the 1024 levels orjson reads).
nested = st.integers(0, 1000).map(
    lambda depth: (
        b'{"name": "a", "app_id": "a", "fn_id": "f", "image": "i", "type": "http",'
        b' "source": "/s", "annotations": {"k": ' + b"[" * depth + b"1" + b"]" * depth + b"}}"
    )
)

APP = AppRecord("app-1", "app", NOW, NOW, {"K": "v"}, {"a": 1}, "tcp://h:1", "GENERIC_X86")
FN = FnRecord("fn-1", "fn", "app-1", "eventfn/publish:0.1.0", NOW, NOW, config={"K": "v"})
TRIGGER = TriggerRecord("t-1", "t", "app-1", "fn-1", "http", "/hook", NOW, NOW, {"a": "b"})


def shown_and_stored(record):
    """What the store writes and the API answers can both be encoded."""
    orjson.dumps({k: v for k, v in asdict(record).items() if k not in ("created_at", "updated_at")})
    if isinstance(record, AppRecord):
        orjson.dumps(app_json(record))
    elif isinstance(record, FnRecord):
        orjson.dumps(fn_json(record, "http://127.0.0.1:8080"))
    else:
        orjson.dumps(trigger_json(record, "app", "http://127.0.0.1:8080"))


@settings(max_examples=200)
@given(body=st.binary(max_size=100) | json_values.map(orjson.dumps) | bodies)
def test_any_body_is_an_object_or_invalid_json(body):
    try:
        document = parse_object(body)
    except BadRequestError:
        return
    assert isinstance(document, dict)


DEEP = b'{"name": "a", "annotations": {"k": ' + b"[" * 1000 + b"]" * 1000 + b"}}"


@settings(max_examples=400)
@given(body=bodies | nested)
@example(body=DEEP)
def test_any_create_is_a_record_or_a_400(body):
    doc = parse_object(body)
    for create in (new_app, new_fn, new_trigger):
        try:
            record = create(doc, "new-id", NOW)
        except BadRequestError:
            continue
        assert record.id == "new-id"
        assert record.name
        shown_and_stored(record)


@settings(max_examples=400)
@given(body=bodies | nested)
@example(body=DEEP)
def test_any_update_is_a_record_or_a_400_or_a_409(body):
    doc = parse_object(body)
    for update, record in ((updated_app, APP), (updated_fn, FN), (updated_trigger, TRIGGER)):
        try:
            changed = update(record, doc, LATER)
        except (BadRequestError, ConflictError):
            continue
        assert (changed.id, changed.created_at) == (record.id, record.created_at)
        # Only a change moves updated_at.
        assert changed == record or changed.updated_at == LATER
        shown_and_stored(changed)
