"""A function process that breaks the http-stream contract gets Fn's answers, not a hang."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from gateway.registry import function_id
from infra.ports import free_port
from tests.support import COLD, ROOT, autoscaler_config, running

pytestmark = pytest.mark.integration

ROGUE = ROOT / "tests" / "fixtures" / "rogue_fdk.py"
MODES = ("status500", "garbage", "absolute-link", "never-ready")


@pytest.fixture(scope="module")
def gateway(tmp_path_factory) -> Iterator[httpx.Client]:
    app = _rogue_app(tmp_path_factory.mktemp("rogue-app"))
    run_dir = tmp_path_factory.mktemp("rogue-run")
    port = free_port()
    env = {
        "EVENTFN_ROOT": str(app),
        "EVENTFN_RUN_DIR": str(run_dir),
        "PORT": str(port),
        "EVENTFN_FDK": str(ROGUE),
        # None of them could ever be warmed.
        "EVENTFN_AUTOSCALER_CONFIG": autoscaler_config(run_dir, **COLD),
        "EVENTFN_START_TIMEOUT_S": "1",
    }
    base = f"http://127.0.0.1:{port}"
    with (
        running("gateway", env, f"{base}/readyz", run_dir / "gateway.log"),
        httpx.Client(base_url=base, timeout=30) as client,
    ):
        yield client


def _rogue_app(root: Path) -> Path:
    (root / "app.yaml").write_text("name: rogues\n")
    for mode in MODES:
        folder = root / "functions" / mode
        folder.mkdir(parents=True)
        (folder / "func.py").write_text("")
        (folder / "func.yaml").write_text(
            f"name: {mode}\ntimeout: 5\nconfig:\n  ROGUE_MODE: {mode}\n"
        )
    return root


def invoke(gateway: httpx.Client, mode: str) -> httpx.Response:
    return gateway.post(f"/invoke/{function_id('rogues', mode)}", content=b"{}")


@pytest.mark.parametrize("mode", ["status500", "garbage"])
def test_an_answer_outside_200_502_504_is_an_invalid_response(gateway, mode):
    for _ in range(2):  # the instance is replaced, and the next one is judged the same
        response = invoke(gateway, mode)
        assert response.status_code == 502
        assert response.json() == {"message": "invalid function response"}


@pytest.mark.parametrize("mode", ["absolute-link", "never-ready"])
def test_an_instance_that_never_gets_ready_is_an_init_timeout(gateway, mode):
    response = invoke(gateway, mode)
    assert response.status_code == 504
    assert response.json()["message"].startswith("Container initialization timed out")
