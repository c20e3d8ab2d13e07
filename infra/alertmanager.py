"""The local Prometheus Alertmanager (Debian's prometheus-alertmanager), which the
alert function tells of every firing and resolving: routing, grouping, silences
and receivers are Alertmanager's, configured in infra/alertmanager.yml."""

from __future__ import annotations

import shutil

from infra.debian import apt_install
from infra.errors import SetupError
from infra.settings import Settings
from infra.supervisor import Component
from infra.waiting import http_ready

PACKAGE = "prometheus-alertmanager"
_NAMES = ("prometheus-alertmanager", "alertmanager")


def find_binary() -> str | None:
    for name in _NAMES:
        if found := shutil.which(name):
            return found
    return None


def ensure_installed() -> str:
    """The alertmanager binary, installing Debian's package if it is missing."""
    found = find_binary()
    if found is None:
        apt_install(PACKAGE, "Prometheus Alertmanager")
        found = find_binary()
    if found is None:
        raise SetupError(f"installed {PACKAGE} but found no alertmanager on PATH")
    return found


def command(settings: Settings, binary: str) -> tuple[str, ...]:
    """Alertmanager on 127.0.0.1 alone: its state in the run directory, no cluster."""
    return (
        binary,
        f"--config.file={settings.alertmanager_config}",
        f"--storage.path={settings.run.alertmanager}",
        f"--web.listen-address=127.0.0.1:{settings.alertmanager_port}",
        f"--web.external-url={settings.alertmanager_url}",
        "--cluster.listen-address=",
        "--log.level=warn",
    )


def component(settings: Settings) -> Component:
    """The supervised Alertmanager (installs the Debian package if it is missing)."""
    binary = ensure_installed()
    url = settings.alertmanager_url
    return Component(
        name="alertmanager",
        argv=command(settings, binary),
        health=lambda: http_ready(f"{url}/-/ready"),
        prepare=lambda: settings.run.alertmanager.mkdir(parents=True, exist_ok=True),
        stop_timeout=15.0,
        describe=f"Alertmanager on {url} (UI and API v2)",
    )
