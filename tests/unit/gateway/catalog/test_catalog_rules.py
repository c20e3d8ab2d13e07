"""The catalog's rules for apps, functions and triggers, against the Fn server's API v2
(api/models, datastoreutil/validator.go): what a create or an update accepts, and
the exact message of what it refuses."""

from __future__ import annotations

from typing import Any

import pytest

from gateway.catalog.models import AppRecord, TriggerRecord
from gateway.catalog.views import fn_json
from gateway.errors import (
    AppNotFoundError,
    BadRequestError,
    ConflictError,
    FnNotFoundError,
)
from gateway.registry import app_id, function_id, trigger_id
from tests.unit.gateway.catalog.helpers import (
    BASE,
    GO_ZERO_TIME,
    KEY,
    KEY_LENGTH,
    T0,
    TOO_MANY,
    VALUE,
    VALUE_LENGTH,
    make_app,
    make_fn,
    make_trigger,
    refused,
    short,
)

# -- apps: create --------------------------------------------------------------


def test_ids_come_from_names_unless_taken_so_a_recreated_function_keeps_its_id(catalog):
    app = make_app(catalog, "orders")
    fn = make_fn(catalog, app, "fn")
    trigger = make_trigger(catalog, fn, "hook")
    assert (fn.id, trigger.id) == (function_id("orders", "fn"), trigger_id("orders", "fn", "hook"))
    catalog.delete_fn(fn.id)
    assert make_fn(catalog, app, "fn").id == fn.id
    catalog.delete_app(app.id)
    again = make_app(catalog, "orders")
    assert again.id == app.id
    # The app's delete took its functions with it: their IDs are free again.
    assert make_fn(catalog, again, "fn").id == fn.id


def test_app_create_fills_id_times_and_empty_defaults(catalog, clock):
    app = make_app(catalog, "orders")
    assert app == AppRecord(id=app_id("orders"), name="orders", created_at=T0, updated_at=T0)
    assert app.config == {}
    assert app.annotations == {}
    assert app.syslog_url is None
    assert app.shape == ""
    assert catalog.app(app.id) == app
    assert catalog.app_named("orders") == app


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        ({}, "Missing Name"),
        ({"name": ""}, "Missing Name"),
        ({"name": "a" * 256}, "App name must be 255 characters or less"),
        ({"name": "my app"}, "Invalid app name"),
        ({"name": "my.app"}, "Invalid app name"),
        ({"name": "my/app"}, "Invalid app name"),
        ({"name": "app", "id": "01ABC"}, "App ID cannot be supplied on create"),
        (
            {"name": "app", "syslog_url": "http://logs:514"},
            'invalid syslog url: "http://logs:514" invalid scheme, only '
            "[tcp, udp, unix, unixgram, tcp+tls] are supported",
        ),
        ({"name": "app", "shape": "GENERIC_SPARC"}, "Invalid app shape"),
        ({"name": "app", "annotations": {"a key": 1}}, KEY),
        ({"name": "app", "annotations": {"": 1}}, KEY),
        ({"name": "app", "annotations": {"ключ": 1}}, KEY),
        ({"name": "app", "annotations": {"k" * 129: 1}}, KEY_LENGTH),
        ({"name": "app", "annotations": {"k": ""}}, VALUE),
        ({"name": "app", "annotations": {"k": None}}, VALUE),
        # 511 characters and two quotes: 513 bytes as JSON.
        ({"name": "app", "annotations": {"k": "x" * 511}}, VALUE_LENGTH),
        ({"name": "app", "annotations": {f"k{i}": i for i in range(101)}}, TOO_MANY),
    ],
    ids=short,
)
def test_app_create_refuses_what_fn_refuses_with_its_message(catalog, doc, message):
    refused(BadRequestError, 400, message, catalog.create_app, doc)
    assert catalog.apps == {}


def test_app_create_accepts_the_limits_fn_accepts(catalog):
    annotations: dict[str, Any] = {f"k{i}": i for i in range(97)}
    annotations |= {"k" * 128: "x" * 510, "empty-object": {}, "nested": {"a": [1, None]}}
    app = make_app(
        catalog,
        "a" * 255,
        annotations=annotations,
        syslog_url="tcp+tls://logs:6514",
        shape="GENERIC_ARM",
        config={"K": "v"},
    )
    assert len(app.annotations) == 100
    assert app.annotations["nested"] == {"a": [1, None]}
    assert app.syslog_url == "tcp+tls://logs:6514"
    assert app.shape == "GENERIC_ARM"
    assert app.config == {"K": "v"}
    # Fn's names are letters, numbers, "_" and "-", letters in any script.
    assert make_app(catalog, "app_é-1").name == "app_é-1"


def test_app_name_length_is_counted_in_bytes_as_go_does(catalog):
    refused(
        BadRequestError,
        400,
        "App name must be 255 characters or less",
        make_app,
        catalog,
        "é" * 128,
    )


def test_a_second_app_with_the_same_name_is_a_409(catalog):
    first = make_app(catalog, "orders")
    refused(ConflictError, 409, "App already exists", make_app, catalog, "orders")
    assert list(catalog.apps.values()) == [first]


# -- apps: update --------------------------------------------------------------


def test_app_update_merges_config_and_an_empty_value_deletes_the_key(catalog):
    app = make_app(catalog, config={"KEEP": "1", "DROP": "2", "CHANGE": "3"})
    updated = catalog.update_app(app.id, {"config": {"DROP": "", "CHANGE": "4", "NEW": "5"}})
    assert updated.config == {"KEEP": "1", "CHANGE": "4", "NEW": "5"}
    assert catalog.app(app.id).config == updated.config


def test_app_update_merges_annotations_and_empty_or_null_deletes_the_key(catalog):
    app = make_app(catalog, annotations={"a": 1, "b": {"x": [1]}, "c": "keep"})
    updated = catalog.update_app(app.id, {"annotations": {"a": "", "b": None, "d": True}})
    assert updated.annotations == {"c": "keep", "d": True}


def test_app_update_checks_the_merged_annotations(catalog):
    app = make_app(catalog)
    refused(BadRequestError, 400, KEY, catalog.update_app, app.id, {"annotations": {"a b": 1}})
    assert catalog.app(app.id) == app


def test_app_update_sets_and_clears_the_syslog_url(catalog):
    app = make_app(catalog)
    assert catalog.update_app(app.id, {"syslog_url": "udp://logs:514"}).syslog_url == (
        "udp://logs:514"
    )
    assert catalog.update_app(app.id, {}).syslog_url == "udp://logs:514"
    assert catalog.update_app(app.id, {"syslog_url": ""}).syslog_url is None


def test_app_name_is_immutable(catalog):
    app = make_app(catalog, "orders")
    refused(
        ConflictError,
        409,
        "Could not update - name is immutable",
        catalog.update_app,
        app.id,
        {"name": "invoices"},
    )
    assert catalog.app(app.id).name == "orders"
    assert catalog.update_app(app.id, {"name": "orders"}).name == "orders"


def test_app_update_with_another_id_in_the_body_is_a_400(catalog):
    app = make_app(catalog)
    refused(
        BadRequestError,
        400,
        "App ID in path does not match ID in body",
        catalog.update_app,
        app.id,
        {"id": "SOMEONE-ELSE", "config": {"K": "v"}},
    )
    assert catalog.app(app.id) == app
    assert catalog.update_app(app.id, {"id": app.id, "config": {"K": "v"}}).config == {"K": "v"}


def test_app_update_checks_the_body_id_before_the_name(catalog):
    app = make_app(catalog)
    refused(
        BadRequestError,
        400,
        "App ID in path does not match ID in body",
        catalog.update_app,
        app.id,
        {"id": "SOMEONE-ELSE", "name": "other"},
    )


def test_app_updated_at_moves_only_when_something_changed(catalog, clock):
    app = make_app(catalog, config={"K": "v"}, annotations={"a": 1})
    clock.advance()
    assert catalog.update_app(app.id, {}) == app
    assert catalog.update_app(app.id, {"config": {"K": "v"}, "annotations": {"a": 1}}) == app
    assert catalog.update_app(app.id, {"config": {"ABSENT": ""}}) == app
    later = clock.advance()
    changed = catalog.update_app(app.id, {"config": {"K": "w"}})
    assert changed.updated_at == later
    assert changed.created_at == T0


def test_updating_an_unknown_app_is_app_not_found(catalog):
    refused(AppNotFoundError, 404, "App not found", catalog.update_app, "NOPE", {})


# -- functions: create ---------------------------------------------------------


def test_fn_create_takes_fns_defaults(catalog):
    app = make_app(catalog)
    fn = make_fn(catalog, app, "resize")
    assert (fn.name, fn.app_id, fn.image) == ("resize", app.id, "example/fn:0.0.1")
    assert (fn.memory, fn.timeout, fn.idle_timeout) == (128, 30, 30)
    assert (fn.config, fn.annotations, fn.shape) == ({}, {}, "")
    assert fn.created_at == fn.updated_at == T0
    assert catalog.fn(fn.id) == fn


def test_fn_create_treats_zero_as_use_the_default(catalog):
    fn = make_fn(catalog, make_app(catalog), memory=0, timeout=0, idle_timeout=0)
    assert (fn.memory, fn.timeout, fn.idle_timeout) == (128, 30, 30)


MEMORY_RANGE = "memory value is out of range. It should be between 0 and 8192"
TIMEOUT_RANGE = "timeout value is out of range, must be between 0 and 300"
IDLE_RANGE = "idle_timeout value is out of range, must be between 0 and 3600"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app_id": ""}, "Missing AppID on Fn"),
        # Fn's validator asks for the app before the name.
        ({"app_id": "", "name": ""}, "Missing AppID on Fn"),
        ({"name": ""}, "Missing Fn name"),
        ({"image": ""}, "Missing image on Fn"),
        ({"id": "01ABC"}, "ID cannot be provided for Fn creation"),
        ({"name": "f" * 256}, "Fn name must be 255 characters or less"),
        ({"name": "a/b"}, "name must be a valid string"),
        ({"name": "a b"}, "name must be a valid string"),
        ({"name": "a?b"}, "name must be a valid string"),
        ({"name": "a;b"}, "name must be a valid string"),
        ({"name": "résumé"}, "name must be a valid string"),
        ({"memory": 8193}, MEMORY_RANGE),
        ({"timeout": 301}, TIMEOUT_RANGE),
        ({"timeout": -1}, TIMEOUT_RANGE),
        ({"idle_timeout": 3601}, IDLE_RANGE),
        ({"idle_timeout": -5}, IDLE_RANGE),
        ({"annotations": {"a b": 1}}, KEY),
    ],
    ids=short,
)
def test_fn_create_refuses_what_fn_refuses_with_its_message(catalog, change, message):
    app = make_app(catalog)
    doc = {"app_id": app.id, "name": "fn", "image": "example/fn:0.0.1"} | change
    refused(BadRequestError, 400, message, catalog.create_fn, doc)
    assert catalog.fns == {}


def test_fn_create_accepts_the_limits_and_path_safe_names(catalog):
    app = make_app(catalog)
    fn = make_fn(catalog, app, "a.b~c$d&e+f:g=h@i_j-k", memory=8192, timeout=300)
    assert (fn.memory, fn.timeout) == (8192, 300)
    low = make_fn(catalog, app, "low", memory=1, timeout=1, idle_timeout=3600)
    assert (low.memory, low.timeout, low.idle_timeout) == (1, 1, 3600)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("memory", "128"),
        ("memory", 1.5),
        ("memory", True),
        ("memory", -1),  # Fn's memory is a uint64
        ("timeout", "30"),
        ("idle_timeout", [30]),
        ("timeout", 2**31),  # past Fn's int32
        ("config", {"K": 1}),
        ("config", ["K=v"]),
        ("annotations", "k=v"),
        ("image", 7),
        ("name", 5),
    ],
    ids=short,
)
def test_fn_create_with_a_value_go_cannot_decode_is_invalid_json(catalog, field, value):
    app = make_app(catalog)
    doc = {"app_id": app.id, "name": "fn", "image": "example/fn:0.0.1", field: value}
    error = refused(BadRequestError, 400, "Invalid JSON", catalog.create_fn, doc)
    assert field in error.fields


def test_fn_memory_written_as_a_float_is_invalid_json_as_in_go(catalog):
    app = make_app(catalog)
    doc = {"app_id": app.id, "name": "fn", "image": "example/fn:0.0.1", "memory": 256.0}
    refused(BadRequestError, 400, "Invalid JSON", catalog.create_fn, doc)


def test_fn_memory_beyond_int32_is_out_of_range_not_invalid_json(catalog):
    app = make_app(catalog)
    doc = {"app_id": app.id, "name": "fn", "image": "example/fn:0.0.1", "memory": 2**32}
    refused(BadRequestError, 400, MEMORY_RANGE, catalog.create_fn, doc)


def test_fn_create_in_an_unknown_app_is_app_not_found(catalog):
    doc = {"app_id": "NOPE", "name": "fn", "image": "example/fn:0.0.1"}
    refused(AppNotFoundError, 404, "App not found", catalog.create_fn, doc)
    assert catalog.fns == {}


def test_fn_names_are_unique_within_an_app_only(catalog):
    first_app, other_app = make_app(catalog, "first"), make_app(catalog, "other")
    first = make_fn(catalog, first_app, "resize")
    refused(
        ConflictError,
        409,
        "Fn with specified name already exists",
        make_fn,
        catalog,
        first_app,
        "resize",
    )
    twin = make_fn(catalog, other_app, "resize")
    assert twin.id != first.id
    assert {f.app_id for f in catalog.fns.values()} == {first_app.id, other_app.id}


def test_a_fn_takes_its_apps_shape(catalog):
    fn = make_fn(catalog, make_app(catalog, shape="GENERIC_ARM"))
    assert fn.shape == "GENERIC_ARM"
    assert fn_json(fn, BASE)["shape"] == "GENERIC_ARM"


# -- functions: update ---------------------------------------------------------


def test_fn_update_patches_image_and_resources_and_ignores_the_name(catalog, clock):
    fn = make_fn(catalog, make_app(catalog), "resize", idle_timeout=45)
    later = clock.advance()
    updated = catalog.update_fn(
        fn.id, {"name": "renamed", "image": "example/fn:0.0.2", "memory": 512, "timeout": 60}
    )
    assert updated.name == "resize"
    assert (updated.image, updated.memory, updated.timeout) == ("example/fn:0.0.2", 512, 60)
    assert updated.idle_timeout == 45
    assert (updated.created_at, updated.updated_at) == (T0, later)
    assert catalog.fn(fn.id) == updated


def test_fn_update_merges_config_and_annotations(catalog):
    fn = make_fn(catalog, make_app(catalog), config={"A": "1", "B": "2"}, annotations={"x": 1})
    updated = catalog.update_fn(
        fn.id, {"config": {"A": "", "C": "3"}, "annotations": {"x": None, "y": [2]}}
    )
    assert updated.config == {"B": "2", "C": "3"}
    assert updated.annotations == {"y": [2]}


def test_fn_update_with_a_null_config_value_deletes_the_key_as_go_decodes_it(catalog):
    fn = make_fn(catalog, make_app(catalog), config={"A": "1", "B": "2"})
    assert catalog.update_fn(fn.id, {"config": {"A": None}}).config == {"B": "2"}


def test_fn_update_without_a_change_keeps_updated_at(catalog, clock):
    fn = make_fn(catalog, make_app(catalog), config={"A": "1"})
    clock.advance()
    assert catalog.update_fn(fn.id, {"image": fn.image, "memory": 128, "config": {"A": "1"}}) == fn


def test_fn_update_refusals(catalog):
    fn = make_fn(catalog, make_app(catalog))
    refused(
        BadRequestError,
        400,
        "Fn ID in path does not match that in body",
        catalog.update_fn,
        fn.id,
        {"id": "OTHER"},
    )
    refused(BadRequestError, 400, TIMEOUT_RANGE, catalog.update_fn, fn.id, {"timeout": 301})
    refused(FnNotFoundError, 404, "Fn not found", catalog.update_fn, "NOPE", {})
    assert catalog.fn(fn.id) == fn


# -- triggers: create ----------------------------------------------------------


def test_trigger_create_keeps_what_was_sent(catalog):
    fn = make_fn(catalog, make_app(catalog))
    trigger = make_trigger(catalog, fn, "hook", "/hooks/github", annotations={"team": "ci"})
    assert trigger == TriggerRecord(
        id=trigger.id,
        name="hook",
        app_id=fn.app_id,
        fn_id=fn.id,
        type="http",
        source="/hooks/github",
        created_at=T0,
        updated_at=T0,
        annotations={"team": "ci"},
    )
    assert catalog.trigger(trigger.id) == trigger


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"app_id": ""}, "Missing App ID on Trigger"),
        ({"name": ""}, "Missing name on Trigger"),
        ({"name": "t" * 256}, "Trigger name must be 255 characters or less"),
        ({"name": "a b"}, "Invalid name for Trigger"),
        ({"fn_id": ""}, "Missing Fn ID on Trigger"),
        ({"type": "cron"}, "Trigger Type Not Supported"),
        ({"type": ""}, "Trigger Type Not Supported"),
        ({"source": ""}, "Missing Trigger Source"),
        ({"source": "hook"}, "Missing Trigger Source Prefix '/'"),
        ({"id": "01ABC"}, "ID cannot be provided for Trigger creation"),
        ({"created_at": "2024-01-01T00:00:00.000Z"}, "Trigger Created At Provided for Create"),
        ({"annotations": {"k": ""}}, VALUE),
    ],
    ids=short,
)
def test_trigger_create_refuses_what_fn_refuses_with_its_message(catalog, change, message):
    fn = make_fn(catalog, make_app(catalog))
    doc = {"app_id": fn.app_id, "fn_id": fn.id, "name": "hook", "type": "http", "source": "/hook"}
    refused(BadRequestError, 400, message, catalog.create_trigger, doc | change)
    assert catalog.triggers == {}


def test_a_real_updated_at_on_trigger_create_gets_fns_own_message(catalog):
    fn = make_fn(catalog, make_app(catalog))
    refused(
        BadRequestError,
        400,
        "Trigger ID Provided for Create",
        make_trigger,
        catalog,
        fn,
        updated_at="2024-01-01T00:00:00.000Z",
    )


@pytest.mark.parametrize("zero", [GO_ZERO_TIME, "0001-01-01T00:00:00Z"])
def test_trigger_create_accepts_the_go_zero_times_the_fn_cli_sends(catalog, clock, zero):
    fn = make_fn(catalog, make_app(catalog))
    later = clock.advance(5)
    trigger = make_trigger(catalog, fn, created_at=zero, updated_at=zero)
    assert trigger.created_at == trigger.updated_at == later


def test_trigger_create_needs_the_app_and_a_fn_of_that_app(catalog):
    app, other = make_app(catalog, "app"), make_app(catalog, "other")
    foreign = make_fn(catalog, other, "foreign")
    doc = {"app_id": app.id, "fn_id": foreign.id, "name": "t", "type": "http", "source": "/t"}
    refused(
        BadRequestError,
        400,
        "Invalid Fn ID - not owned by specified app",
        catalog.create_trigger,
        doc,
    )
    refused(AppNotFoundError, 404, "App not found", catalog.create_trigger, doc | {"app_id": "X"})
    refused(FnNotFoundError, 404, "Fn not found", catalog.create_trigger, doc | {"fn_id": "X"})
    assert catalog.triggers == {}


def test_a_source_is_unique_per_app_whatever_the_fn(catalog):
    app = make_app(catalog)
    one, two = make_fn(catalog, app, "one"), make_fn(catalog, app, "two")
    make_trigger(catalog, one, "a", "/same")
    message = "Trigger with the same type and source exists on this app"
    refused(ConflictError, 409, message, make_trigger, catalog, one, "b", "/same")
    refused(ConflictError, 409, message, make_trigger, catalog, two, "c", "/same")
    elsewhere = make_fn(catalog, make_app(catalog, "other"), "one")
    assert make_trigger(catalog, elsewhere, "a", "/same").source == "/same"
    assert len(catalog.triggers) == 2


def test_a_trigger_name_is_unique_per_app_and_fn(catalog):
    app = make_app(catalog)
    one, two = make_fn(catalog, app, "one"), make_fn(catalog, app, "two")
    make_trigger(catalog, one, "hook", "/first")
    refused(ConflictError, 409, "Trigger already exists", make_trigger, catalog, one, "hook", "/x")
    assert make_trigger(catalog, two, "hook", "/second").fn_id == two.id


def test_annotation_rules_hold_for_fns_and_triggers_too(catalog):
    app = make_app(catalog)
    refused(
        BadRequestError, 400, KEY_LENGTH, make_fn, catalog, app, "f", annotations={"k" * 129: 1}
    )
    fn = make_fn(catalog, app)
    many = {f"k{i}": i for i in range(101)}
    refused(BadRequestError, 400, TOO_MANY, make_trigger, catalog, fn, annotations=many)
