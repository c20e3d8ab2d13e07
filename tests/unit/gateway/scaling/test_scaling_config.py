"""Knative's autoscaling annotations and config-autoscaler keys, resolved and
refused as Knative does."""

import pytest

from gateway.scaling.config import (
    ClusterDefaults,
    ScalingConfigError,
    parse_duration,
    resolve,
)

K = "autoscaling.knative.dev/"


def test_defaults_are_knatives():
    concurrency = resolve({}, ClusterDefaults())
    assert (concurrency.metric, concurrency.total, concurrency.target) == ("concurrency", 1, 0.7)
    assert (concurrency.stable_window_s, concurrency.panic_window_s) == (60, 6)
    assert (concurrency.panic_threshold, concurrency.min_scale, concurrency.initial_scale) == (
        2.0,
        0,
        1,
    )
    assert concurrency.scale_to_zero_grace_s == 30
    rps = resolve({K + "metric": "rps"}, ClusterDefaults())
    assert (rps.total, rps.target) == (200, pytest.approx(140))


def test_annotations_set_target_utilisation_windows_and_bounds():
    s = resolve(
        {
            K + "metric": "rps",
            K + "target": "50",
            K + "target-utilization-percentage": "80",
            K + "window": "10s",
            K + "panic-window-percentage": "25",
            K + "panic-threshold-percentage": "150",
            K + "min-scale": "1",
            K + "max-scale": "6",
            K + "scale-down-delay": "1m",
        },
        ClusterDefaults(),
    )
    assert s.target == pytest.approx(40)
    assert (s.stable_window_s, s.panic_window_s, s.panic_threshold) == (10, 2, 1.5)
    assert (s.min_scale, s.max_scale, s.scale_down_delay_s) == (1, 6, 60)


def test_a_concurrency_target_is_capped_by_the_container_concurrency():
    assert resolve({K + "target": "10"}, ClusterDefaults()).total == 1


def test_a_short_window_keeps_at_least_a_one_second_panic_window():
    assert resolve({K + "window": "6s"}, ClusterDefaults()).panic_window_s == 1


@pytest.mark.parametrize(
    ("key", "value", "says"),
    [
        ("metric", "cpu", "concurrency or rps"),
        ("class", "hpa.autoscaling.knative.dev", "does not emulate"),
        ("window", "5s", "window"),
        ("window", "60", "not a duration"),
        ("window", "6.5s", "whole number of seconds"),
        ("target", "0", "target"),
        ("panic-threshold-percentage", "100", "panic-threshold-percentage"),
        ("min-scale", "-1", "min-scale"),
        ("max-scale", "two", "whole number"),
        ("initial-scale", "0", "allow-zero-initial-scale"),
        ("target-burst-capacity", "-2", "target-burst-capacity"),
        ("metric-aggregation-algorithm", "weighted-exponential", "linear"),
    ],
)
def test_values_knative_would_refuse_are_refused_naming_the_annotation(key, value, says):
    with pytest.raises(ScalingConfigError, match=says) as refused:
        resolve({K + key: value}, ClusterDefaults())
    assert K in str(refused.value)


def test_min_scale_above_max_scale_is_refused():
    with pytest.raises(ScalingConfigError, match="above max-scale"):
        resolve({K + "min-scale": "3", K + "max-scale": "2"}, ClusterDefaults())


def test_cluster_defaults_read_config_autoscaler_keys():
    d = ClusterDefaults.from_mapping(
        {
            "stable-window": "6s",
            "scale-to-zero-grace-period": "4s",
            "enable-scale-to-zero": "true",
            "max-scale-up-rate": "10",
            "tick-interval": "500ms",
            "pod-autoscaler-class": "kpa.autoscaling.knative.dev",
        },
        max_scale=4,
    )
    assert (d.stable_window_s, d.scale_to_zero_grace_period_s, d.max_scale) == (6, 4, 4)
    assert (d.max_scale_up_rate, d.tick_interval_s) == (10, 0.5)
    assert resolve({}, d).max_scale == 4
    assert resolve({K + "max-scale": "0"}, d).max_scale == 0  # 0: no limit, as in Knative


@pytest.mark.parametrize(
    "data",
    [
        {"stable-window": "2s"},
        {"max-scale-down-rate": "1"},
        {"no-such-key": "1"},
        {"enable-scale-to-zero": "yes"},
    ],
)
def test_bad_cluster_defaults_are_refused(data):
    with pytest.raises(ScalingConfigError):
        ClusterDefaults.from_mapping(data)


def test_go_durations():
    assert parse_duration("1m30s") == 90
    assert parse_duration("500ms") == 0.5
    assert parse_duration("0") == 0
    assert parse_duration("1h") == 3600
    for bad in ("", "s", "1x", "1m 30s", "--1s"):
        with pytest.raises(ScalingConfigError):
            parse_duration(bad)
