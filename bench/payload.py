"""The events every row sends: one JSON object a line, in the original system's
plain form (``{"type":"TEMP","value":"21.5","source":"/sensors/..."}``).

A deterministic mix (same count and seed, same bytes) of sensor readings, log
lines and transactions, 80-400 bytes each, a set share of which trips a rule
of ``functions/alert/rules.yaml``. No event carries an ``id``: the gateway
gives each one a fresh UUIDv7, so cycling through the file never makes a
duplicate that persist would fold away.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

ALERT_FRACTION = 0.02

_BUILDINGS = ("b1", "b2", "b3", "hq", "lab")
_SERVICES = ("checkout", "payments", "inventory", "search", "auth", "shipping")
_LEVELS = ("INFO", "INFO", "INFO", "WARN", "ERROR", "DEBUG")
_WORDS = (
    *("request", "handled", "upstream", "timeout", "retry", "cache", "miss", "order"),
    *("user", "session", "token", "latency", "connection", "pool", "exhausted", "queue"),
    *("depth", "commit", "rollback", "checkpoint", "replica", "lag", "partition"),
    *("rebalance", "shard", "index", "scan", "slow", "query", "warm", "cold"),
)
_CURRENCIES = ("EUR", "USD", "GBP", "CHF", "JPY")
_MERCHANTS = ("ACME Hardware", "Blue Bottle", "Northwind", "Contoso Travel", "Globex")


def _sensor(rng: random.Random, kind: str) -> str:
    building = rng.choice(_BUILDINGS)
    return f"/sensors/{building}/floor-{rng.randint(0, 9)}/room-{rng.randint(1, 40)}/{kind}"


def _temp(rng: random.Random, alert: bool) -> dict[str, Any]:
    if alert:
        # Both forms the rules read: the original "ALERT:90" and a plain number.
        value = rng.choice(
            ("ALERT:90", f"{rng.uniform(80, 95):.1f}", f"{rng.uniform(-40, -20):.1f}")
        )
    else:
        value = f"{rng.uniform(-5, 35):.1f}"
    return {
        "type": "TEMP",
        "value": value,
        "source": _sensor(rng, "temp"),
        "subject": f"th-{rng.randint(1, 9999):04d}",
    }


def _humidity(rng: random.Random, _alert: bool) -> dict[str, Any]:
    return {
        "type": "HUMIDITY",
        "value": f"{rng.uniform(20, 90):.1f}",
        "unit": "%",
        "source": _sensor(rng, "humidity"),
        "subject": f"th-{rng.randint(1, 9999):04d}",
    }


def _pressure(rng: random.Random, alert: bool) -> dict[str, Any]:
    value = rng.uniform(1050, 1090) if alert else rng.uniform(960, 1040)
    return {
        "type": "PRESSURE",
        "value": f"{value:.1f}",
        "unit": "hPa",
        "source": f"/plant/{rng.randint(1, 5)}/line-{rng.randint(1, 8)}/pressure",
    }


def _log(rng: random.Random, _alert: bool) -> dict[str, Any]:
    words = " ".join(rng.choice(_WORDS) for _ in range(rng.randint(3, 36)))
    service = rng.choice(_SERVICES)
    return {
        "type": "LOG",
        "value": f"{rng.choice(_LEVELS)} {service}: {words}",
        "source": f"/services/{service}/pod-{rng.randint(1, 12)}",
        "subject": f"trace-{rng.getrandbits(64):016x}",
    }


def _transaction(rng: random.Random, alert: bool) -> dict[str, Any]:
    # Everyday amounts are log-normal (mostly tens of euros), capped under the rule.
    amount = rng.uniform(10_000, 250_000) if alert else min(rng.lognormvariate(3.5, 1.2), 9_999.99)
    return {
        "type": "TRANSACTION",
        "amount": f"{amount:.2f}",
        "currency": rng.choice(_CURRENCIES),
        "account": f"ACC-{rng.randint(10_000_000, 99_999_999)}",
        "merchant": rng.choice(_MERCHANTS),
        "card": f"**** **** **** {rng.randint(0, 9999):04d}",
        "source": f"/payments/{rng.choice(('eu-west', 'us-east', 'ap-south'))}",
    }


Maker = Callable[[random.Random, bool], dict[str, Any]]
# (share, maker): the everyday mix. Alerts come only from kinds a rule watches.
_MIX: tuple[tuple[float, Maker], ...] = (
    (0.30, _temp),
    (0.20, _humidity),
    (0.15, _pressure),
    (0.20, _log),
    (0.15, _transaction),
)
_ALERTING: tuple[Maker, ...] = (_temp, _pressure, _transaction)


def events(count: int, seed: int = 7, alert_fraction: float = ALERT_FRACTION) -> list[bytes]:
    """``count`` events as compact JSON; exactly ``round(count * alert_fraction)`` alert."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    alerting = set(rng.sample(range(count), round(count * alert_fraction)))
    shares = [share for share, _ in _MIX]
    makers = [maker for _, maker in _MIX]
    lines = []
    for index in range(count):
        alert = index in alerting
        maker = rng.choice(_ALERTING) if alert else rng.choices(makers, shares)[0]
        event = maker(rng, alert)
        lines.append(json.dumps(event, separators=(",", ":")).encode())
    return lines


def write_payload(
    path: Path, count: int, seed: int = 7, alert_fraction: float = ALERT_FRACTION
) -> Path:
    """Write :func:`events` to ``path``, one a line; return ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"\n".join(events(count, seed, alert_fraction)) + b"\n")
    return path


def read_payload(path: Path) -> list[bytes]:
    """The events of a payload file, one ``bytes`` each (no newline)."""
    return [line for line in path.read_bytes().split(b"\n") if line]


def json_array(lines: Sequence[bytes]) -> bytes:
    """Events as one JSON array: the body of a batch ``POST /publish``."""
    return b"[" + b",".join(lines) + b"]"


def describe(lines: Sequence[bytes]) -> dict[str, Any]:
    """Count and sizes of a payload, for the report."""
    sizes = sorted(len(line) for line in lines)
    return {
        "events": len(sizes),
        "bytes_min": sizes[0],
        "bytes_median": sizes[len(sizes) // 2],
        "bytes_mean": round(sum(sizes) / len(sizes), 1),
        "bytes_max": sizes[-1],
    }
