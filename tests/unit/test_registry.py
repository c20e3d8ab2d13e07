from pathlib import Path

import pytest

from gateway.errors import AppNotFoundError, ConfigError, FnNotFoundError, TriggerNotFoundError
from gateway.registry import function_id, load_app

ROOT = Path(__file__).parents[2]
FIXTURES = ROOT / "tests/fixtures/app"


def test_the_repository_app_has_the_three_functions_and_the_publish_trigger():
    app = load_app(ROOT)
    assert app.name == "eventfn"
    assert {fn.name for fn in app.functions} == {"publish", "persist", "alert"}
    fn, trigger = app.trigger("eventfn", "/publish")
    assert fn.name == "publish"
    assert trigger.id == load_app(ROOT).trigger("eventfn", "/publish")[1].id
    assert fn.id == function_id("eventfn", "publish")
    assert fn.entry_file == ROOT / "functions/publish/func.py"
    assert fn.entry_point == "handler"


def test_config_merges_app_then_function_and_the_environment_overrides_declared_keys():
    echo = load_app(FIXTURES).function_named("echo")
    assert echo.environment({}) == {"FIXTURE_APP": "app-value", "FIXTURE_SHARED": "from-fn"}
    assert echo.environment({"FIXTURE_APP": "env", "UNRELATED": "x"}) == {
        "FIXTURE_APP": "env",
        "FIXTURE_SHARED": "from-fn",
    }


def test_lookups_fail_with_fns_messages():
    app = load_app(FIXTURES)
    with pytest.raises(FnNotFoundError, match="Fn not found"):
        app.function("nope")
    with pytest.raises(AppNotFoundError, match="App not found"):
        app.trigger("other", "/echo")
    with pytest.raises(TriggerNotFoundError, match="Trigger not found"):
        app.trigger("fixtures", "/nope")


def test_a_bad_func_yaml_names_the_file_and_field(tmp_path):
    (tmp_path / "app.yaml").write_text("name: broken\n")
    (tmp_path / "functions/f").mkdir(parents=True)
    (tmp_path / "functions/f/func.py").write_text("")
    (tmp_path / "functions/f/func.yaml").write_text("name: f\ntimeout: 9999\n")
    with pytest.raises(
        ConfigError, match=r"func.yaml: timeout: Input should be less than or equal to 300"
    ):
        load_app(tmp_path)
