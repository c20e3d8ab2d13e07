"""Single-function mode's decisions: which function runs, at what scale, and which keys reach it."""

import pytest

from gateway.access import parse_keys
from gateway.errors import AccessDeniedError, ConfigError, UnauthenticatedError
from gateway.registry import load_app
from gateway.scaling.config import resolve
from gateway.settings import GatewaySettings
from gateway.single import PINNED_SCALE, call_scopes, only
from tests.support import ROOT

APP = load_app(ROOT)


def settings(function: str | None) -> GatewaySettings:
    return GatewaySettings.from_env({"EVENTFN_FUNCTION": function or ""}, root=ROOT)


def test_without_a_function_named_the_whole_app_is_deployed():
    assert settings(None).function is None
    assert only(APP, settings(None)) is APP


def test_the_named_function_alone_is_deployed_at_one_warm_instance():
    deployed = only(APP, settings("persist"))
    (fn,) = deployed.functions
    assert (deployed.name, fn.name) == ("eventfn", "persist")
    # Knative scales the pods; the pod keeps exactly one fdk instance.
    assert {k: fn.annotations[k] for k in PINNED_SCALE} == {
        "autoscaling.knative.dev/min-scale": "1",
        "autoscaling.knative.dev/max-scale": "1",
        "autoscaling.knative.dev/initial-scale": "1",
    }
    # as the pod's autoscaler resolves them, under the gateway's own defaults
    spec = resolve(fn.annotations, settings("persist").autoscaler_defaults())
    assert (spec.min_scale, spec.max_scale, spec.initial_scale) == (1, 1, 1)
    # its other annotations and its config stay as func.yaml has them
    assert fn.annotations["autoscaling.knative.dev/metric"] == "concurrency"
    assert fn.config == APP.function_named("persist").config


def test_an_unknown_function_is_a_config_error_naming_the_known_ones():
    with pytest.raises(ConfigError) as error:
        only(APP, settings("publsh"))
    message = error.value.message
    assert "EVENTFN_FUNCTION=publsh" in message
    assert "alert, archive, persist, publish" in message


def test_a_key_reaches_a_function_by_the_scopes_that_reach_it_on_the_full_gateway():
    assert call_scopes(APP.function_named("publish")) == {"invoke", "triggers", "publish"}
    assert call_scopes(APP.function_named("persist")) == {"invoke"}
    assert call_scopes(APP.function_named("alert")) == {"invoke"}


def test_check_any_takes_a_key_with_one_of_the_scopes_and_refuses_others():
    access = parse_keys(
        """
keys:
  - {name: ingest, key: ingest-key-0123456789, scopes: [publish]}
  - {name: watcher, key: watcher-key-0123456789, scopes: [metrics]}
""",
        "keys.yaml",
    )
    ingest = access.check_any(
        {"authorization": "Bearer ingest-key-0123456789"}, {"invoke", "publish"}, "call publish"
    )
    assert ingest.name == "ingest"
    with pytest.raises(AccessDeniedError) as denied:
        access.check_any({"x-api-key": "watcher-key-0123456789"}, {"invoke"}, 'call "persist"')
    assert denied.value.message == (
        'the API key "watcher" may not call "persist" (it needs one of the scopes invoke)'
    )
    with pytest.raises(UnauthenticatedError):
        access.check_any({}, {"invoke"}, 'call "persist"')
