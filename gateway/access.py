"""Who may call what: API keys (bearer tokens) for /publish, the HTTP triggers,
/invoke, the Fn API and /metrics.

When ``EVENTFN_API_KEYS`` names a keys file, every such request needs one of its
keys, as ``Authorization: Bearer <key>`` (what the fn CLI sends for a context's
``token``) or ``X-Api-Key: <key>``; without the file everything is open, as on a
local Fn server. The file holds a key's SHA-256 rather than the key where it
can, and no key ever reaches a function, a log line or an error message.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

import yaml

from gateway.errors import AccessDeniedError, GatewayError, UnauthenticatedError

# What a key may be allowed to do (all of them when a key names none).
SCOPES = frozenset({"publish", "triggers", "invoke", "manage", "metrics"})
# The headers that carry a key: withheld from functions when keys are in force.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key"})


class KeysFileError(GatewayError):
    """The keys file cannot be used; the gateway refuses to start on it."""


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes  # SHA-256 of the key
    scopes: frozenset[str]
    # None: every app; else only functions of these apps (not the Fn API)
    apps: frozenset[str] | None = None


@dataclass(frozen=True)
class Access:
    keys: tuple[ApiKey, ...]

    def check(self, headers: Mapping[str, str], scope: str) -> ApiKey:
        """The key the request carries, if it may do ``scope``; else 401 or 403."""
        key = self.identify(headers)
        if scope not in key.scopes:
            raise AccessDeniedError(f'the API key "{key.name}" may not {_VERBS[scope]}')
        return key

    def check_any(self, headers: Mapping[str, str], scopes: Collection[str], what: str) -> ApiKey:
        """The key the request carries, if it has one of ``scopes``; else 401, or
        403 saying it may not do ``what``."""
        key = self.identify(headers)
        if key.scopes.isdisjoint(scopes):
            needed = ", ".join(sorted(scopes))
            raise AccessDeniedError(
                f'the API key "{key.name}" may not {what} (it needs one of the scopes {needed})'
            )
        return key

    def identify(self, headers: Mapping[str, str]) -> ApiKey:
        """The valid key the request carries, whatever it may do; else 401."""
        presented = credential(headers)
        if presented is None:
            raise UnauthenticatedError(
                "this endpoint needs an API key: send Authorization: Bearer <key> or X-Api-Key",
                headers=_CHALLENGE,
            )
        digest = hashlib.sha256(presented.encode()).digest()
        # Every key compared in constant time: timing tells nothing of which matched.
        matches = [key for key in self.keys if hmac.compare_digest(key.digest, digest)]
        if not matches:
            raise UnauthenticatedError("the API key is not valid", headers=_CHALLENGE)
        return matches[0]

    @staticmethod
    def check_app(key: ApiKey, app: str) -> None:
        if key.apps is not None and app not in key.apps:
            raise AccessDeniedError(
                f'the API key "{key.name}" may not call the functions of app "{app}"'
            )


_CHALLENGE = {"WWW-Authenticate": 'Bearer realm="eventfn"'}
_VERBS = {
    "publish": "publish events",
    "triggers": "call HTTP triggers",
    "invoke": "invoke functions",
    "manage": "use the Fn API",
    "metrics": "read metrics",
}


def credential(headers: Mapping[str, str]) -> str | None:
    """The key a request presents, if any (headers looked up in lower case)."""
    authorization = headers.get("authorization", "")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    key = headers.get("x-api-key", "").strip()
    return key or None


def parse_keys(text: str, where: str) -> Access:
    """The keys file: ``keys:``, a list of ``name``, ``sha256`` (hex) or ``key``,
    and optionally ``scopes`` and ``apps``."""
    try:
        document = yaml.safe_load(text)
    except (yaml.YAMLError, ValueError, RecursionError) as error:
        # PyYAML raises ValueError for a date or number it cannot build
        # (2001-02-30), RecursionError for nesting deeper than the stack.
        raise KeysFileError(f"{where}: not YAML: {error}") from None
    entries = document.get("keys") if isinstance(document, dict) else None
    if not isinstance(entries, list) or not entries:
        raise KeysFileError(f"{where}: expected a non-empty list under 'keys'")
    keys = tuple(_key(entry, f"{where}: keys[{n}]") for n, entry in enumerate(entries))
    names = [key.name for key in keys]
    if len(set(names)) != len(names):
        raise KeysFileError(f"{where}: key names must be unique")
    return Access(keys)


def _key(entry: Any, where: str) -> ApiKey:
    if not isinstance(entry, dict) or not isinstance(entry.get("name"), str):
        raise KeysFileError(f"{where}: needs a name")
    name = entry["name"]
    secret, hashed = entry.get("key"), entry.get("sha256")
    if (secret is None) == (hashed is None):
        raise KeysFileError(f"{where} ({name}): give exactly one of key and sha256")
    if secret is not None:
        if not isinstance(secret, str) or len(secret) < 16:
            raise KeysFileError(
                f"{where} ({name}): a key must be a string of 16 characters or more"
            )
        digest = hashlib.sha256(secret.encode()).digest()
    else:
        try:
            digest = bytes.fromhex(str(hashed))
        except ValueError:
            digest = b""
        if len(digest) != 32:
            raise KeysFileError(f"{where} ({name}): sha256 must be 64 hexadecimal digits")
    scopes = frozenset(_strings(entry.get("scopes", sorted(SCOPES)), f"{where} ({name}) scopes"))
    if unknown := scopes - SCOPES:
        raise KeysFileError(
            f"{where} ({name}): unknown scopes {sorted(unknown)}; known: {sorted(SCOPES)}"
        )
    apps = entry.get("apps")
    allowed = None if apps is None else frozenset(_strings(apps, f"{where} ({name}) apps"))
    return ApiKey(name, digest, scopes, allowed)


def _strings(value: Any, where: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise KeysFileError(f"{where}: expected a list of strings")
    return value
