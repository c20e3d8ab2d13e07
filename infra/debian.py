"""Installing what the embedded services run from Debian's packages."""

from __future__ import annotations

import os
import subprocess

from infra.errors import SetupError


def apt_install(package: str, why: str) -> None:
    """Install ``package`` (as root, once); SetupError saying what to run otherwise."""
    if os.geteuid() != 0:
        raise SetupError(f"{why} not found; install it with: sudo apt-get install -y {package}")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    for argv in (
        ["apt-get", "update", "-q"],
        ["apt-get", "install", "-y", "-q", "--no-install-recommends", package],
    ):
        result = subprocess.run(argv, env=env, capture_output=True, text=True, check=False)
        if result.returncode != 0:
            output = "\n".join((result.stdout + result.stderr).splitlines()[-20:])
            raise SetupError(f"{' '.join(argv)} failed (exit {result.returncode}):\n{output}")
