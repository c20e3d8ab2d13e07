"""A load test against publish: the KPA sizes its pool of real fdk instances.

The request rate ramps up, bursts and falls; the instance count follows the
KPA formula for the configured target (checked from the status endpoint and
/metrics), panics on the burst, comes back down, reaches zero after the grace
period, and a request at zero is served after a cold start. No request fails.
Windows are shortened (config-autoscaler keys in a file) so it runs in about a
minute.
"""

from __future__ import annotations

import concurrent.futures
import math
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from gateway.registry import function_id
from infra.ports import free_ports
from tests.support import metric, pipeline_env, running

pytestmark = pytest.mark.integration

K = "autoscaling.knative.dev/"
TARGET = 10.0  # requests per second per instance, at 70% utilisation: 7
PER_INSTANCE = TARGET * 0.7
MAX_SCALE = 6
# Knative's keys; a 6 s stable window (the least Knative allows) gives a 1 s panic window.
AUTOSCALER = "stable-window: 6s\nscale-to-zero-grace-period: 3s\n"
EVENT = {"type": "TEMP", "value": "21"}


@dataclass
class Seen:
    at: float
    status: dict[str, Any]


@pytest.fixture
def gateway(tmp_path: Path, kafka_bootstrap: str, database_url: str) -> Iterator[httpx.Client]:
    port, bridge_port = free_ports(2)
    config = tmp_path / "autoscaler.yaml"
    config.write_text(AUTOSCALER)
    env = pipeline_env(tmp_path / "run", kafka_bootstrap, database_url, port, bridge_port)
    env["EVENTFN_AUTOSCALER_CONFIG"] = str(config)
    url = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{url}/readyz", tmp_path / "run" / "gateway.log"),
        httpx.Client(base_url=url, timeout=60) as client,
    ):
        yield client


class Watcher:
    """Reads publish's entry of /scaling four times a second, in the background."""

    def __init__(self, client: httpx.Client) -> None:
        self.client = client
        self.seen: list[Seen] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Watcher:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def now(self) -> dict[str, Any]:
        return publish_status(self.client)

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.seen.append(Seen(time.monotonic(), self.now()))

    def between(self, start: float, end: float) -> list[dict[str, Any]]:
        return [s.status for s in self.seen if start <= s.at <= end]


def publish_status(client: httpx.Client) -> dict[str, Any]:
    functions = client.get("/scaling").json()["functions"]
    return next(f for f in functions if f["app"] == "eventfn" and f["function"] == "publish")


def send_at_rate(client: httpx.Client, rate: float, seconds: float) -> list[int]:
    """Open-loop load: a request every 1/rate s whatever the answers, as real clients send."""
    start = time.monotonic()
    count = int(rate * seconds)
    with concurrent.futures.ThreadPoolExecutor(48) as pool:
        futures = []
        for i in range(count):
            delay = start + i / rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            futures.append(pool.submit(lambda: client.post("/publish", json=EVENT).status_code))
        return [f.result() for f in futures]


def kpa_wish(decision: dict[str, Any]) -> int:
    """Knative's Scale() outside panic, from what the decision observed."""
    ready = max(1, decision["ready"])
    wish = math.ceil(round(decision["observed"]["stable"]["rps"] / PER_INSTANCE, 9))
    return min(max(wish, math.floor(ready / 2)), math.ceil(1000 * ready))


def wait_for(watcher: Watcher, check: Any, timeout_s: float) -> dict[str, Any]:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        status = watcher.now()
        if check(status):
            return status
        time.sleep(0.25)
    raise AssertionError(f"not reached in {timeout_s} s; last status: {watcher.now()}")


def test_publish_scales_with_the_rate_panics_on_a_burst_and_returns_to_zero(gateway):
    fn_id = function_id("eventfn", "publish")
    annotations = {K + "metric": "rps", K + "target": str(TARGET), K + "max-scale": str(MAX_SCALE)}
    assert gateway.put(f"/v2/fns/{fn_id}", json={"annotations": annotations}).status_code == 200
    # The change makes a new pool (as a new revision in Knative), at the initial scale.
    with Watcher(gateway) as watcher:
        wait_for(watcher, lambda s: s["scaling"]["target"] == PER_INSTANCE and s["ready"] == 1, 30)
        phases: dict[str, tuple[float, float]] = {}
        statuses: list[int] = []
        for name, rate, seconds in (("steady", 10, 10), ("burst", 45, 8), ("calm", 12, 14)):
            began = time.monotonic()
            statuses += send_at_rate(gateway, rate, seconds)
            phases[name] = (began, time.monotonic())
        idle_since = time.monotonic()
        at_zero = wait_for(watcher, lambda s: s["ready"] == 0 and s["desired"] == 0, 45)
        zero_after = time.monotonic() - idle_since
        cold_before = at_zero["coldStarts"]
        answer = gateway.post("/publish", json=EVENT)
        statuses.append(answer.status_code)
        after_cold = watcher.now()

    assert len(statuses) == 10 * 10 + 45 * 8 + 12 * 14 + 1
    assert all(200 <= s < 300 for s in statuses), sorted(set(statuses))
    assert answer.json()["id"]
    assert after_cold["coldStarts"] == cold_before + 1
    assert after_cold["ready"] >= 1

    # Every decision outside panic is Knative's formula applied to what it observed.
    decisions = [s.status["lastDecision"] for s in watcher.seen if s.status["lastDecision"]]
    checked = [d for d in decisions if not d["panic"]]
    assert checked
    for decision in checked:
        assert decision["wanted"] == kpa_wish(decision), decision

    # Steady 10 rps at 7 per instance: two instances once the window is full.
    steady_end = watcher.between(phases["steady"][1] - 3, phases["steady"][1])
    assert {s["desired"] for s in steady_end} == {math.ceil(10 / PER_INSTANCE)}
    # The burst panics and scales up at once, to max-scale (45 / 7 > 6).
    burst = watcher.between(*phases["burst"])
    assert any(s["panic"] for s in burst)
    assert max(s["desired"] for s in burst) == MAX_SCALE
    assert (
        max(s["ready"] for s in watcher.between(phases["burst"][0], phases["calm"][1])) == MAX_SCALE
    )
    # Calm: panic ends a stable window after the burst, and the count comes down
    # to what 12 rps needs (bounded by halving per tick).
    calm_end = watcher.between(phases["calm"][1] - 2, phases["calm"][1])
    assert not any(s["panic"] for s in calm_end)
    assert {s["desired"] for s in calm_end} == {math.ceil(12 / PER_INSTANCE)}
    # Zero: a calm stable window, the halvings, then the grace period.
    assert zero_after < 30

    text = gateway.get("/metrics").text
    assert metric(text, "eventfn_autoscaler_ready_instances", function="publish") >= 1
    assert metric(text, "eventfn_function_cold_starts_total", function="publish") == cold_before + 1
    assert (
        metric(text, "eventfn_autoscaler_target_per_instance", function="publish", metric="rps")
        == PER_INSTANCE
    )
