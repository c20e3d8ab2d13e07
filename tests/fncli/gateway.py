"""The gateway the fn CLI sessions are recorded against and replayed on.

It serves the repository's ``app.yaml`` with the ``publish`` function alone,
so the recording holds the CLI's contract, not the list of functions of the
day: a function added to ``functions/`` changes no recorded answer.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from infra.ports import free_ports
from tests.support import ROOT, running

FUNCTIONS = ("publish",)


def app_root(directory: Path) -> Path:
    """A root holding the repository's app.yaml and only ``FUNCTIONS``, linked."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "app.yaml").symlink_to(ROOT / "app.yaml")
    (directory / "functions").mkdir()
    for name in FUNCTIONS:
        (directory / "functions" / name).symlink_to(ROOT / "functions" / name)
    return directory


@contextlib.contextmanager
def contract_gateway(work: Path, kafka_bootstrap: str) -> Iterator[str]:
    """A fresh gateway (empty catalog) on that app; its base URL."""
    (port,) = free_ports(1)
    env = {
        "EVENTFN_ROOT": str(app_root(work / "app")),
        "EVENTFN_RUN_DIR": str(work / "run"),
        "KAFKA_BOOTSTRAP_SERVERS": kafka_bootstrap,
        "PORT": str(port),
    }
    base = f"http://127.0.0.1:{port}"
    with running("gateway", env, f"{base}/readyz", work / "gateway.log", 60):
        yield base
