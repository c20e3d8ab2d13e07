"""Prometheus Alertmanager's v2 API: the alert stage posts its instances there."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import httpx

from eventio.errors import DependencyError

# The fdk logs at DEBUG: httpx's lines for every POST would fill the function's log.
for _name in ("httpx", "httpcore"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class AlertmanagerError(DependencyError):
    """Alertmanager did not take the alerts; the next tick sends them again."""


class Alertmanager:
    """``POST /api/v2/alerts``, with one client kept for the life of the process."""

    def __init__(self, url: str, timeout_s: float = 2.0) -> None:
        self.url = url.rstrip("/")
        self._client = httpx.Client(timeout=timeout_s)

    def post(self, alerts: Sequence[dict[str, Any]]) -> None:
        """Tell Alertmanager these alerts; AlertmanagerError if it did not take them."""
        if not alerts:
            return
        try:
            answer = self._client.post(f"{self.url}/api/v2/alerts", json=list(alerts))
        except httpx.HTTPError as error:
            raise AlertmanagerError(f"Alertmanager at {self.url}: {error}") from None
        if answer.status_code != 200:
            raise AlertmanagerError(
                f"Alertmanager at {self.url} answered {answer.status_code}: {answer.text[:200]}"
            )

    def close(self) -> None:
        self._client.close()
