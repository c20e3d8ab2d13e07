"""What a function's autoscaler works with: Knative's cluster defaults (the
``config-autoscaler`` ConfigMap's keys) and a function's
``autoscaling.knative.dev/*`` annotations, resolved as Knative resolves them.

Knative's names, defaults and ranges throughout, so a ``func.yaml`` means the
same on a laptop as in the cluster. The local runtime differs only where a
laptop must: ``max-scale`` defaults to the gateway's ``EVENTFN_MAX_INSTANCES``
rather than unlimited, and the decision tick can be shortened (``tick-interval``,
an eventfn key) for tests.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

PREFIX = "autoscaling.knative.dev/"
KPA_CLASS = "kpa.autoscaling.knative.dev"
HPA_CLASS = "hpa.autoscaling.knative.dev"

Metric = Literal["concurrency", "rps"]

_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_HOUR = 3600.0
_WINDOW_MIN_S = 6.0


class ScalingConfigError(ValueError):
    """An annotation or a cluster default that Knative would refuse; the
    message names it and says what is allowed."""


def parse_duration(text: str) -> float:
    """A Go duration (``60s``, ``1m30s``, ``500ms``, ``0``) in seconds."""
    text = text.strip()
    if text in ("0", "+0", "-0"):
        return 0.0
    sign = -1.0 if text.startswith("-") else 1.0
    body = text[1:] if text[:1] in ("+", "-") else text
    total, position = 0.0, 0
    for match in _DURATION_PART.finditer(body):
        if match.start() != position:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        position = match.end()
    if not body or position != len(body):
        raise ScalingConfigError(f'"{text}" is not a duration (such as 60s, 1m30s or 500ms)')
    return sign * total


@dataclass(frozen=True)
class ClusterDefaults:
    """``config-autoscaler``: Knative's defaults for every function."""

    container_concurrency_target_percentage: float = 70.0
    container_concurrency_target_default: float = 100.0
    requests_per_second_target_default: float = 200.0
    target_burst_capacity: float = 211.0
    stable_window_s: float = 60.0
    panic_window_percentage: float = 10.0
    panic_threshold_percentage: float = 200.0
    max_scale_up_rate: float = 1000.0
    max_scale_down_rate: float = 2.0
    enable_scale_to_zero: bool = True
    scale_to_zero_grace_period_s: float = 30.0
    scale_to_zero_pod_retention_period_s: float = 0.0
    min_scale: int = 0
    max_scale: int = 0
    max_scale_limit: int = 0
    initial_scale: int = 1
    allow_zero_initial_scale: bool = False
    scale_down_delay_s: float = 0.0
    # eventfn's own: how often decisions are made (Knative's decider ticks every 2 s).
    tick_interval_s: float = 2.0

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, max_scale: int = 0) -> ClusterDefaults:
        """The ConfigMap's ``data`` (a YAML mapping of Knative's keys); ``max_scale``
        is the default when the mapping does not set one."""
        defaults = replace(cls(), max_scale=max_scale)
        values: dict[str, Any] = {}
        for key, raw in data.items():
            name = key.replace("-", "_")
            if name in _DURATION_KEYS:
                values[_DURATION_KEYS[name]] = _duration(key, raw)
            elif name in ("enable_scale_to_zero", "allow_zero_initial_scale"):
                values[name] = _boolean(key, raw)
            elif name in ("min_scale", "max_scale", "max_scale_limit", "initial_scale"):
                values[name] = _integer(key, raw, minimum=0)
            elif name in _FLOAT_KEYS:
                values[name] = _number(key, raw)
            elif key not in _IGNORED_KEYS:
                raise ScalingConfigError(f'autoscaler config: unknown key "{key}"')
        result = replace(defaults, **values)
        result.check()
        return result

    def check(self) -> None:
        """Knative's validation of ``config-autoscaler``."""
        if not _WINDOW_MIN_S <= self.stable_window_s <= _HOUR:
            raise ScalingConfigError("stable-window must be between 6s and 1h")
        if not 1 <= self.panic_window_percentage <= 100:
            raise ScalingConfigError("panic-window-percentage must be between 1 and 100")
        if not 110 <= self.panic_threshold_percentage <= 1000:
            raise ScalingConfigError("panic-threshold-percentage must be between 110 and 1000")
        if self.max_scale_up_rate <= 1 or self.max_scale_down_rate <= 1:
            raise ScalingConfigError("max-scale-up-rate and max-scale-down-rate must be above 1")
        if not 1 <= self.container_concurrency_target_percentage <= 100:
            raise ScalingConfigError(
                "container-concurrency-target-percentage must be between 1 and 100"
            )
        if (
            min(self.container_concurrency_target_default, self.requests_per_second_target_default)
            < 0.01
        ):
            raise ScalingConfigError("the default targets must be at least 0.01")
        if self.target_burst_capacity < 0 and self.target_burst_capacity != -1:
            raise ScalingConfigError("target-burst-capacity must be -1 or at least 0")
        if self.scale_to_zero_grace_period_s < 0 or self.scale_down_delay_s < 0:
            raise ScalingConfigError("durations must not be negative")
        if self.tick_interval_s <= 0:
            raise ScalingConfigError("tick-interval must be above 0")
        if self.initial_scale == 0 and not self.allow_zero_initial_scale:
            raise ScalingConfigError("initial-scale 0 needs allow-zero-initial-scale: true")


_DURATION_KEYS = {
    "stable_window": "stable_window_s",
    "scale_to_zero_grace_period": "scale_to_zero_grace_period_s",
    "scale_to_zero_pod_retention_period": "scale_to_zero_pod_retention_period_s",
    "scale_down_delay": "scale_down_delay_s",
    "tick_interval": "tick_interval_s",
}
_FLOAT_KEYS = frozenset(
    {
        "container_concurrency_target_percentage",
        "container_concurrency_target_default",
        "requests_per_second_target_default",
        "target_burst_capacity",
        "panic_window_percentage",
        "panic_threshold_percentage",
        "max_scale_up_rate",
        "max_scale_down_rate",
    }
)
# Keys of config-autoscaler that mean nothing without a cluster.
_IGNORED_KEYS = frozenset(
    {"pod-autoscaler-class", "activator-capacity", "scale-to-zero-pod-retention-period-enabled"}
)


@dataclass(frozen=True)
class ScalingSpec:
    """One function's autoscaler, resolved: what :mod:`gateway.scaling.kpa` runs."""

    metric: Metric
    # Knative's TotalValue (per instance at 100%) and TargetValue (what is aimed for).
    total: float
    target: float
    panic_threshold: float
    stable_window_s: float
    panic_window_s: float
    max_scale_up_rate: float
    max_scale_down_rate: float
    min_scale: int
    max_scale: int  # 0: no limit
    initial_scale: int
    activation_scale: int
    scale_down_delay_s: float
    enable_scale_to_zero: bool
    scale_to_zero_grace_s: float
    target_burst_capacity: float
    tick_interval_s: float

    def document(self) -> dict[str, Any]:
        """As the status endpoint shows it."""
        return {
            "metric": self.metric,
            "target": self.target,
            "total": self.total,
            "panicThreshold": self.panic_threshold,
            "stableWindowSeconds": self.stable_window_s,
            "panicWindowSeconds": self.panic_window_s,
            "minScale": self.min_scale,
            "maxScale": self.max_scale,
            "initialScale": self.initial_scale,
            "activationScale": self.activation_scale,
            "scaleDownDelaySeconds": self.scale_down_delay_s,
            "scaleToZeroGracePeriodSeconds": self.scale_to_zero_grace_s,
            "enableScaleToZero": self.enable_scale_to_zero,
        }


def resolve(
    annotations: Mapping[str, Any],
    defaults: ClusterDefaults,
    container_concurrency: int = 1,
) -> ScalingSpec:
    """A function's spec from its annotations over the cluster defaults, as
    Knative's ResolveMetricTarget, MakeMetric and ScaleBounds do.

    ``container_concurrency`` is 1: the fdk runs one call at a time.
    """
    given = {k[len(PREFIX) :]: v for k, v in annotations.items() if k.startswith(PREFIX)}
    klass = _text(given, "class", KPA_CLASS)
    if klass == HPA_CLASS:
        raise ScalingConfigError(
            f"{PREFIX}class: {HPA_CLASS} scales on CPU or memory through Kubernetes' HPA, "
            f"which the local runtime does not emulate; use {KPA_CLASS}"
        )
    if klass != KPA_CLASS:
        raise ScalingConfigError(f'{PREFIX}class: "{klass}" is not {KPA_CLASS} or {HPA_CLASS}')
    metric = _text(given, "metric", "concurrency")
    if metric not in ("concurrency", "rps"):
        raise ScalingConfigError(
            f'{PREFIX}metric: "{metric}" is not one the KPA scales on (concurrency or rps)'
        )
    # Knative uses container-concurrency-target-percentage as the utilisation for both.
    utilisation = defaults.container_concurrency_target_percentage / 100
    if metric == "concurrency":
        total = float(container_concurrency or defaults.container_concurrency_target_default)
    else:
        total = defaults.requests_per_second_target_default
    if "target" in given:
        target = _annotation_number(given, "target", minimum=0.01)
        total = (
            min(target, container_concurrency)
            if metric == "concurrency" and container_concurrency
            else target
        )
    if "target-utilization-percentage" in given:
        utilisation = _annotation_number(given, "target-utilization-percentage", 1, 100) / 100
    stable_window = defaults.stable_window_s
    if "window" in given:
        stable_window = _annotation_duration(given, "window", _WINDOW_MIN_S, _HOUR)
        if stable_window != int(stable_window):
            raise ScalingConfigError(f"{PREFIX}window: must be a whole number of seconds")
    panic_percentage = defaults.panic_window_percentage
    if "panic-window-percentage" in given:
        panic_percentage = _annotation_number(given, "panic-window-percentage", 1, 100)
    threshold = defaults.panic_threshold_percentage
    if "panic-threshold-percentage" in given:
        threshold = _annotation_number(given, "panic-threshold-percentage", 110, 1000)
    min_scale = _annotation_int(given, "min-scale", defaults.min_scale)
    max_scale = _annotation_int(given, "max-scale", defaults.max_scale)
    if defaults.max_scale_limit and not 0 < max_scale <= defaults.max_scale_limit:
        raise ScalingConfigError(
            f"{PREFIX}max-scale: must be between 1 and {defaults.max_scale_limit} (max-scale-limit)"
        )
    if max_scale and min_scale > max_scale:
        raise ScalingConfigError(f"{PREFIX}min-scale: {min_scale} is above max-scale {max_scale}")
    initial_scale = _annotation_int(given, "initial-scale", defaults.initial_scale)
    if initial_scale == 0 and not defaults.allow_zero_initial_scale:
        raise ScalingConfigError(
            f"{PREFIX}initial-scale: 0 is allowed only with allow-zero-initial-scale"
        )
    delay = defaults.scale_down_delay_s
    if "scale-down-delay" in given:
        delay = _annotation_duration(given, "scale-down-delay", 0, _HOUR)
    retention = defaults.scale_to_zero_pod_retention_period_s
    if "scale-to-zero-pod-retention-period" in given:
        retention = _annotation_duration(given, "scale-to-zero-pod-retention-period", 0, _HOUR)
    burst = defaults.target_burst_capacity
    if "target-burst-capacity" in given:
        burst = _annotation_number(given, "target-burst-capacity", -1, math.inf)
        if burst < 0 and burst != -1:
            raise ScalingConfigError(f"{PREFIX}target-burst-capacity: must be -1 or at least 0")
    algorithm = _text(given, "metric-aggregation-algorithm", "linear")
    if algorithm != "linear":
        raise ScalingConfigError(
            f'{PREFIX}metric-aggregation-algorithm: "{algorithm}" is not supported by the '
            "local runtime (linear is)"
        )
    return ScalingSpec(
        metric=metric,  # type: ignore[arg-type]
        total=total,
        target=max(0.01, total * utilisation),
        panic_threshold=threshold / 100,
        stable_window_s=stable_window,
        # Rounded to whole seconds, at least one bucket (Knative's MakeMetric).
        panic_window_s=max(1.0, float(round(stable_window * panic_percentage / 100))),
        max_scale_up_rate=defaults.max_scale_up_rate,
        max_scale_down_rate=defaults.max_scale_down_rate,
        min_scale=min_scale,
        max_scale=max_scale,
        initial_scale=initial_scale,
        activation_scale=_annotation_int(given, "activation-scale", 1, minimum=1),
        scale_down_delay_s=delay,
        enable_scale_to_zero=defaults.enable_scale_to_zero,
        scale_to_zero_grace_s=max(defaults.scale_to_zero_grace_period_s, retention),
        target_burst_capacity=burst,
        tick_interval_s=defaults.tick_interval_s,
    )


def _text(given: Mapping[str, Any], name: str, default: str) -> str:
    value = given.get(name, default)
    if not isinstance(value, str):
        raise ScalingConfigError(f"{PREFIX}{name}: must be a string")
    return value


def _annotation_number(
    given: Mapping[str, Any], name: str, minimum: float = -math.inf, maximum: float = math.inf
) -> float:
    value = _number(PREFIX + name, given[name])
    if not minimum <= value <= maximum:
        raise ScalingConfigError(
            f"{PREFIX}{name}: {value:g} is not between {minimum:g} and {maximum:g}"
        )
    return value


def _annotation_int(given: Mapping[str, Any], name: str, default: int, minimum: int = 0) -> int:
    if name not in given:
        return default
    return _integer(PREFIX + name, given[name], minimum)


def _annotation_duration(
    given: Mapping[str, Any], name: str, minimum: float, maximum: float
) -> float:
    value = _duration(PREFIX + name, given[name])
    if not minimum <= value <= maximum:
        raise ScalingConfigError(
            f"{PREFIX}{name}: {given[name]} is not between {minimum:g}s and {maximum:g}s"
        )
    return value


def _number(key: str, raw: Any) -> float:
    if isinstance(raw, bool):
        raise ScalingConfigError(f"{key}: must be a number, not {raw!r}")
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise ScalingConfigError(f"{key}: must be a number, not {raw!r}") from None
    if not math.isfinite(value):
        raise ScalingConfigError(f"{key}: must be a finite number")
    return value


def _integer(key: str, raw: Any, minimum: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | str):
        raise ScalingConfigError(f"{key}: must be a whole number, not {raw!r}")
    try:
        value = int(raw)
    except ValueError:
        raise ScalingConfigError(f"{key}: must be a whole number, not {raw!r}") from None
    if value < minimum:
        raise ScalingConfigError(f"{key}: must be at least {minimum}")
    return value


def _duration(key: str, raw: Any) -> float:
    # Go's time.ParseDuration, as Knative parses them: "60" has no unit and is refused.
    if not isinstance(raw, str):
        raise ScalingConfigError(f"{key}: must be a duration such as 60s, not {raw!r}")
    try:
        return parse_duration(raw)
    except ScalingConfigError as error:
        raise ScalingConfigError(f"{key}: {error}") from None


def _boolean(key: str, raw: Any) -> bool:
    if isinstance(raw, bool):
        return raw
    if isinstance(raw, str) and raw.strip().lower() in ("true", "false"):
        return raw.strip().lower() == "true"
    raise ScalingConfigError(f"{key}: must be true or false, not {raw!r}")
