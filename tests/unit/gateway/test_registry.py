from pathlib import Path

import pytest

from gateway.errors import ConfigError, FnNotFoundError
from gateway.registry import load_app

ROOT = Path(__file__).parents[3]
FIXTURES = ROOT / "tests/fixtures/app"


def test_the_repository_app_declares_the_three_functions_and_the_publish_trigger():
    app = load_app(ROOT)
    assert app.name == "eventfn"
    assert {fn.name for fn in app.functions} == {"publish", "persist", "alert", "archive"}
    publish = app.function_named("publish")
    assert publish.image == "eventfn/publish:0.1.0"
    assert [(t.name, t.type, t.source) for t in publish.triggers] == [
        ("publish", "http", "/publish")
    ]
    assert publish.code.entry_file == ROOT / "functions/publish/func.py"
    assert publish.code.entry_point == "handler"


def test_an_image_runs_the_repository_function_it_names_whatever_registry_and_tag():
    app = load_app(ROOT)
    publish = app.function_named("publish").code
    assert app.code_for("eventfn/publish:0.0.1") == publish
    assert app.code_for("iad.ocir.io/tenancy/eventfn/publish:0.0.9") == publish
    assert app.code_for("publish") == publish
    assert app.code_for("eventfn/publish@sha256:abc") == publish
    assert app.code_for("someone/else:1.0") is None


def test_function_config_is_its_own_and_lookups_fail_with_fns_messages():
    app = load_app(FIXTURES)
    assert app.function_named("echo").config == {"FIXTURE_SHARED": "from-fn"}
    assert app.config == {"FIXTURE_APP": "app-value", "FIXTURE_SHARED": "from-app"}
    with pytest.raises(FnNotFoundError, match="Fn not found"):
        app.function_named("nope")


def test_a_bad_func_yaml_names_the_file_and_field(tmp_path):
    (tmp_path / "app.yaml").write_text("name: broken\n")
    (tmp_path / "functions/f").mkdir(parents=True)
    (tmp_path / "functions/f/func.py").write_text("")
    (tmp_path / "functions/f/func.yaml").write_text("name: f\ntimeout: 9999\n")
    with pytest.raises(
        ConfigError, match=r"func.yaml: timeout: Input should be less than or equal to 300"
    ):
        load_app(tmp_path)
