"""The catalog as a store: deletes and their cascades, pages, persistence across a
reopen, the deploy of this repository's app.yaml and func.yaml, and the JSON shapes."""

from __future__ import annotations

import base64
import logging
import re
import sqlite3
from datetime import datetime, timedelta, timezone

import pytest

from gateway.catalog.views import (
    HTTP_ENDPOINT,
    INVOKE_ENDPOINT,
    Page,
    app_json,
    fn_json,
    trigger_json,
)
from gateway.errors import (
    AppNotFoundError,
    BadRequestError,
    CatalogUnavailableError,
    FnNotFoundError,
    TriggerNotFoundError,
)
from gateway.registry import app_id, function_id, load_app, trigger_id
from tests.unit.gateway.catalog.helpers import (
    BASE,
    ROOT,
    T0,
    make_app,
    make_fn,
    make_trigger,
    refused,
)

# -- deletes -------------------------------------------------------------------


def test_app_delete_takes_its_fns_and_triggers_and_returns_the_fn_ids(catalog, reopen):
    app, kept_app = make_app(catalog, "gone"), make_app(catalog, "kept")
    one, two = make_fn(catalog, app, "one"), make_fn(catalog, app, "two")
    make_trigger(catalog, one, "a", "/a")
    make_trigger(catalog, two, "b", "/b")
    kept_fn = make_fn(catalog, kept_app, "one")
    kept_trigger = make_trigger(catalog, kept_fn, "a", "/a")
    assert sorted(catalog.delete_app(app.id)) == sorted([one.id, two.id])
    for view in (catalog, reopen(catalog)):
        assert list(view.apps) == [kept_app.id]
        assert list(view.fns) == [kept_fn.id]
        assert list(view.triggers) == [kept_trigger.id]


def test_fn_delete_takes_its_triggers_only(catalog, reopen):
    app = make_app(catalog)
    gone, kept = make_fn(catalog, app, "gone"), make_fn(catalog, app, "kept")
    make_trigger(catalog, gone, "a", "/a")
    make_trigger(catalog, gone, "b", "/b")
    kept_trigger = make_trigger(catalog, kept, "c", "/c")
    catalog.delete_fn(gone.id)
    for view in (catalog, reopen(catalog)):
        assert list(view.fns) == [kept.id]
        assert list(view.triggers) == [kept_trigger.id]
        assert list(view.apps) == [app.id]


def test_trigger_delete(catalog):
    trigger = make_trigger(catalog, make_fn(catalog, make_app(catalog)))
    catalog.delete_trigger(trigger.id)
    assert catalog.triggers == {}
    refused(TriggerNotFoundError, 404, "Trigger not found", catalog.trigger, trigger.id)


@pytest.mark.parametrize(
    ("method", "kind", "message"),
    [
        ("delete_app", AppNotFoundError, "App not found"),
        ("delete_fn", FnNotFoundError, "Fn not found"),
        ("delete_trigger", TriggerNotFoundError, "Trigger not found"),
        ("app", AppNotFoundError, "App not found"),
        ("fn", FnNotFoundError, "Fn not found"),
        ("trigger", TriggerNotFoundError, "Trigger not found"),
        ("app_named", AppNotFoundError, "App not found"),
    ],
)
def test_unknown_ids_are_fns_not_found_errors(catalog, method, kind, message):
    refused(kind, 404, message, getattr(catalog, method), "NOPE")


# -- lists ---------------------------------------------------------------------


def cursor_for(name: str) -> str:
    return base64.urlsafe_b64encode(name.encode()).decode().rstrip("=")


def test_apps_list_by_name_without_a_cursor_when_the_page_is_not_full(catalog):
    for name in ("charlie", "alpha", "bravo"):
        make_app(catalog, name)
    apps, cursor = catalog.list_apps(Page())
    assert [a.name for a in apps] == ["alpha", "bravo", "charlie"]
    assert cursor == ""


@pytest.mark.parametrize(
    ("per_page", "size"),
    [
        ("", 30),
        ("7", 7),
        ("100", 100),
        ("101", 100),
        ("1000", 100),
        ("0", 30),
        ("-3", 30),
        ("lots", 30),
    ],
)
def test_per_page_defaults_to_30_and_is_capped_at_100(per_page, size):
    assert Page.from_query("", per_page) == Page("", size)


def test_a_full_page_has_a_cursor_that_leads_to_the_rest(catalog):
    names = ["ab", "cd", "ef", "gh", "ij"]
    for name in reversed(names):
        make_app(catalog, name)
    seen, cursor, pages = [], "", 0
    while True:
        apps, cursor = catalog.list_apps(Page.from_query(cursor, "2"))
        seen += [a.name for a in apps]
        pages += 1
        if not cursor:
            break
        assert cursor == cursor_for(apps[-1].name)
        assert "=" not in cursor  # "ab" is "YWI=" with padding
    assert seen == names
    assert pages == 3


def test_a_page_that_ends_exactly_full_still_has_a_cursor_then_an_empty_page(catalog):
    for name in ("a", "b", "c", "d"):
        make_app(catalog, name)
    second, cursor = catalog.list_apps(Page.from_query(cursor_for("b"), "2"))
    assert [a.name for a in second] == ["c", "d"]
    assert cursor == cursor_for("d")
    assert catalog.list_apps(Page.from_query(cursor, "2")) == ([], "")


def test_the_cursor_is_url_safe_base64(catalog):
    app = make_app(catalog)
    make_fn(catalog, app, "~~~")  # base64 "fn5+", base64url "fn5-"
    make_fn(catalog, app, "~~~~")
    fns, cursor = catalog.list_fns(Page.from_query("", "1"), app.id)
    assert [f.name for f in fns] == ["~~~"]
    assert cursor == "fn5-"
    fns, cursor = catalog.list_fns(Page.from_query(cursor, "1"), app.id)
    assert [f.name for f in fns] == ["~~~~"]


def test_name_filters_are_exact(catalog):
    app = make_app(catalog, "b")
    make_app(catalog, "bb")
    assert [a.name for a in catalog.list_apps(Page(), name="b")[0]] == ["b"]
    one, two = make_fn(catalog, app, "one"), make_fn(catalog, app, "one-more")
    assert [f.id for f in catalog.list_fns(Page(), app.id, name="one")[0]] == [one.id]
    hook = make_trigger(catalog, one, "hook", "/1")
    make_trigger(catalog, one, "hook-2", "/2")
    other = make_trigger(catalog, two, "hook", "/3")
    assert [t.id for t in catalog.list_triggers(Page(), app.id, name="hook")[0]] == sorted(
        [hook.id, other.id]
    )
    assert [t.id for t in catalog.list_triggers(Page(), app.id, fn_id=two.id)[0]] == [other.id]


def test_fns_and_triggers_list_only_the_apps_own(catalog):
    app, other = make_app(catalog, "app"), make_app(catalog, "other")
    mine = [make_fn(catalog, app, name) for name in ("zeta", "alpha")]
    theirs = make_fn(catalog, other, "beta")
    make_trigger(catalog, theirs)
    fns, _ = catalog.list_fns(Page(), app.id)
    assert [f.name for f in fns] == ["alpha", "zeta"]
    assert {f.id for f in fns} == {f.id for f in mine}
    assert catalog.list_triggers(Page(), app.id) == ([], "")


def test_fns_and_triggers_lists_need_an_app_id(catalog):
    refused(BadRequestError, 400, "Missing AppID on Fn", catalog.list_fns, Page(), "")
    refused(BadRequestError, 400, "Missing App ID on Trigger", catalog.list_triggers, Page(), "")


@pytest.mark.parametrize("cursor", ["a", "_w", "/w+"])
def test_a_cursor_that_is_not_base64url_of_a_name_is_a_400(cursor):
    with pytest.raises(BadRequestError) as caught:
        Page.from_query(cursor, "")
    assert caught.value.status == 400


@pytest.mark.parametrize("cursor", ["!!!!", "YQ=="])
def test_a_cursor_is_decoded_strictly_as_raw_base64url(cursor):
    with pytest.raises(BadRequestError):
        Page.from_query(cursor, "")


# -- persistence ---------------------------------------------------------------


def test_a_reopened_catalog_holds_the_same_records(catalog, reopen, clock):
    nested = {"obj": {"a": [1, {"b": None}], "c": "d"}, "n": 1.5, "flag": False, "s": "x"}
    app = make_app(
        catalog,
        config={"K": "v", "EMPTY": ""},
        annotations=nested,
        syslog_url="tcp://logs:514",
        shape="GENERIC_X86",
    )
    fn = make_fn(catalog, app, config={"F": "1"}, annotations={"list": [1, 2]}, memory=256)
    make_trigger(catalog, fn, annotations={"deep": {"x": {"y": [None, "z"]}}})
    clock.advance(90)
    catalog.update_app(app.id, {"config": {"K": "w"}})
    apps, fns, triggers = dict(catalog.apps), dict(catalog.fns), dict(catalog.triggers)
    again = reopen(catalog)
    assert again.apps == apps
    assert again.fns == fns
    assert again.triggers == triggers
    reloaded = again.app(app.id)
    assert reloaded.updated_at == T0 + timedelta(seconds=90)
    assert reloaded.created_at == T0
    assert reloaded.annotations == nested
    assert app_json(reloaded) == app_json(apps[app.id])


# -- deploy of the repository's app ---------------------------------------------


def test_deploy_creates_the_declared_app_fns_and_triggers_with_stable_ids(catalog):
    declared = load_app(ROOT)
    ids = catalog.deploy(declared)
    app = catalog.app(app_id(declared.name))
    assert (app.name, app.config, app.annotations) == (
        declared.name,
        dict(declared.config),
        dict(declared.annotations),
    )
    assert ids == {spec.name: function_id(declared.name, spec.name) for spec in declared.functions}
    assert len(catalog.fns) == len(declared.functions)
    for spec in declared.functions:
        fn = catalog.fn(function_id(declared.name, spec.name))
        assert (fn.name, fn.app_id, fn.image) == (spec.name, app.id, spec.image)
        assert (fn.memory, fn.timeout, fn.idle_timeout) == (
            spec.memory,
            spec.timeout,
            spec.idle_timeout,
        )
        assert fn.config == dict(spec.config)
        assert fn.created_at == fn.updated_at == T0
    publish = catalog.trigger(trigger_id(declared.name, "publish", "publish"))
    assert (publish.app_id, publish.fn_id, publish.type, publish.source) == (
        app.id,
        function_id(declared.name, "publish"),
        "http",
        "/publish",
    )
    assert catalog.http_trigger(declared.name, "/publish") == publish
    assert len(catalog.triggers) == sum(len(spec.triggers) for spec in declared.functions)


def test_deploying_again_changes_nothing(catalog, reopen, clock):
    declared = load_app(ROOT)
    ids = catalog.deploy(declared)
    apps, fns, triggers = dict(catalog.apps), dict(catalog.fns), dict(catalog.triggers)
    clock.advance(3600)
    again = reopen(catalog)
    assert again.deploy(load_app(ROOT)) == ids
    assert again.apps == apps
    assert again.fns == fns
    assert again.triggers == triggers


def test_deploy_restores_the_declared_config_a_user_changed(catalog, clock):
    declared = load_app(ROOT)
    catalog.deploy(declared)
    publish_id = function_id(declared.name, "publish")
    spec = declared.function_named("publish")
    key = next(iter(spec.config))
    clock.advance()
    catalog.update_fn(publish_id, {"config": {key: "changed-by-user"}})
    assert catalog.fn(publish_id).config[key] == "changed-by-user"
    deployed_at = clock.advance()
    catalog.deploy(declared)
    restored = catalog.fn(publish_id)
    assert restored.config == dict(spec.config)
    assert (restored.created_at, restored.updated_at) == (T0, deployed_at)


def test_deploy_keeps_the_id_of_an_app_the_user_recreated(catalog, clock):
    declared = load_app(ROOT)
    catalog.deploy(declared)
    catalog.delete_app(app_id(declared.name))
    clock.advance()
    mine = make_app(catalog, declared.name)
    catalog.deploy(declared)
    assert list(catalog.apps) == [mine.id]
    app = catalog.app(mine.id)
    assert app.created_at == mine.created_at
    assert app.config == dict(declared.config)
    assert {fn.app_id for fn in catalog.fns.values()} == {mine.id}
    assert {t.app_id for t in catalog.triggers.values()} == {mine.id}
    assert catalog.http_trigger(declared.name, "/publish").fn_id == function_id(
        declared.name, "publish"
    )


def test_deploy_leaves_a_users_trigger_on_the_declared_source_and_warns(catalog, caplog):
    declared = load_app(ROOT)
    catalog.deploy(declared)
    declared_trigger = trigger_id(declared.name, "publish", "publish")
    catalog.delete_trigger(declared_trigger)
    persist = catalog.fn(function_id(declared.name, "persist"))
    mine = make_trigger(catalog, persist, "mine", "/publish")
    with caplog.at_level(logging.WARNING, logger="eventfn.gateway"):
        catalog.deploy(declared)
    assert declared_trigger not in catalog.triggers
    assert catalog.http_trigger(declared.name, "/publish") == mine
    assert function_id(declared.name, "publish") in catalog.fns
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("/publish" in w and "mine" in w for w in warnings)


def test_deploy_never_puts_two_triggers_on_one_source(catalog, tmp_path):
    (tmp_path / "app.yaml").write_text("name: twins\n")
    for name in ("one", "two"):
        directory = tmp_path / "functions" / name
        directory.mkdir(parents=True)
        (directory / "func.py").write_text("")
        (directory / "func.yaml").write_text(
            f"name: {name}\ntriggers:\n- name: hook\n  source: /same\n"
        )
    catalog.deploy(load_app(tmp_path))
    assert [t.source for t in catalog.triggers.values()].count("/same") == 1


# -- JSON ----------------------------------------------------------------------

MILLIS_Z = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")


def test_fn_json_carries_the_invoke_endpoint_and_always_a_config(catalog):
    fn = make_fn(catalog, make_app(catalog), annotations={"team": "ci"})
    document = fn_json(fn, BASE)
    assert document["annotations"] == {"team": "ci", INVOKE_ENDPOINT: f"{BASE}/invoke/{fn.id}"}
    assert document["config"] == {}
    assert (document["memory"], document["timeout"], document["idle_timeout"]) == (128, 30, 30)
    assert "shape" not in document
    assert fn.annotations == {"team": "ci"}  # the endpoint is not stored


def test_trigger_json_carries_the_http_endpoint(catalog):
    app = make_app(catalog, "shop")
    trigger = make_trigger(catalog, make_fn(catalog, app), "hook", "/hooks/github")
    document = trigger_json(trigger, app.name, BASE)
    assert document["annotations"] == {HTTP_ENDPOINT: f"{BASE}/t/shop/hooks/github"}
    assert (document["type"], document["source"]) == ("http", "/hooks/github")


def test_trigger_json_trims_one_leading_slash_as_fn_does(catalog):
    app = make_app(catalog, "shop")
    trigger = make_trigger(catalog, make_fn(catalog, app), "hook", "//x")
    assert trigger_json(trigger, app.name, BASE)["annotations"][HTTP_ENDPOINT] == (
        f"{BASE}/t/shop//x"
    )


def test_app_json_leaves_out_what_is_empty(catalog):
    bare = app_json(make_app(catalog, "bare"))
    assert set(bare) == {"id", "name", "created_at", "updated_at"}
    full = app_json(make_app(catalog, "full", config={"K": "v"}, annotations={"a": 1}))
    assert (full["config"], full["annotations"]) == ({"K": "v"}, {"a": 1})


def test_timestamps_are_utc_with_milliseconds_and_a_z(catalog, clock):
    clock.now = datetime(2024, 5, 6, 9, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2)))
    app = make_app(catalog)
    fn = make_fn(catalog, app)
    trigger = make_trigger(catalog, fn)
    for document in (app_json(app), fn_json(fn, BASE), trigger_json(trigger, app.name, BASE)):
        for name in ("created_at", "updated_at"):
            assert MILLIS_Z.fullmatch(document[name])
            assert document[name] == "2024-05-06T07:08:09.123Z"


def test_a_catalog_file_that_cannot_be_written_changes_nothing_and_is_a_503(catalog, path):
    make_app(catalog, "before")
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the file
    try:
        refused(
            CatalogUnavailableError,
            503,
            "the catalog cannot be written right now; nothing was changed, try again",
            catalog.create_app,
            {"name": "during"},
        )
        assert [a.name for a in catalog.apps.values()] == ["before"]
    finally:
        other.execute("ROLLBACK")
        other.close()
    assert make_app(catalog, "after").name == "after"
