"""OCI request signatures (draft-cavage HTTP signatures, rsa-sha256), checked as OCI does.

Pure: the caller passes the request as received, the known public keys and the
time; nothing here reads a file, a socket or the clock.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPublicKey

from gateway.errors import GatewayError

ALGORITHM = "rsa-sha256"
VERSION = "1"
MAX_SKEW = timedelta(minutes=5)
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
BODYLESS_METHODS = frozenset({"GET", "HEAD", "DELETE"})
# What every signature must cover; a date header is required too, as either
# ``date`` or ``x-date`` (for clients, such as browsers, that cannot set Date).
REQUIRED_HEADERS = ("(request-target)", "host")
BODY_HEADERS = ("content-length", "content-type", "x-content-sha256")
DATE_HEADERS = ("x-date", "date")

# One ``name="value"`` parameter and the comma after it. No value the OCI SDKs
# send holds a quote or a backslash, so quoted-pair escapes are not supported.
_PARAM = re.compile(r'\s*([A-Za-z]+)\s*=\s*"([^"\\]*)"\s*(?:,|$)')


class SignatureError(GatewayError):
    """The request's signature does not authenticate it; ``reason`` says exactly why."""

    status = 401
    message = (
        "The required information to complete authentication was not provided or was incorrect."
    )
    code = "NotAuthenticated"

    def __init__(self, reason: str) -> None:
        # OCI answers with the bare message; a local emulator can say why, since
        # nothing in the reason is secret and it saves a debugging session.
        super().__init__(f"{type(self).message} ({reason})")
        self.reason = reason


@dataclass(frozen=True)
class SignedRequest:
    """A request as received.

    ``target`` is the path and query exactly as sent (percent-encoded, ``?query``
    included when there is one): it is signed byte for byte. ``headers`` must
    answer lower-case names (a case-insensitive mapping such as Starlette's
    ``Headers`` does, as does a plain dict with lower-case keys).
    """

    method: str
    target: str
    headers: Mapping[str, str]
    body: bytes = b""


def fingerprint(public_key: RSAPublicKey) -> str:
    """The key's OCI fingerprint: MD5 of its DER SubjectPublicKeyInfo, as ``aa:bb:...``."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    digest = hashlib.md5(der, usedforsecurity=False).hexdigest()
    return ":".join(digest[i : i + 2] for i in range(0, len(digest), 2))


def body_sha256(body: bytes) -> str:
    """The ``x-content-sha256`` value for ``body``."""
    return base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")


def verify(
    request: SignedRequest,
    keys: Mapping[str, RSAPublicKey],
    now: datetime,
    *,
    max_skew: timedelta = MAX_SKEW,
) -> str:
    """The keyId that signed ``request``; raises SignatureError when it is not authentic.

    ``now`` should be timezone-aware; a naive one is taken as UTC.
    """
    method = request.method.upper()
    if method not in BODY_METHODS | BODYLESS_METHODS:
        raise SignatureError(f"{method} requests cannot be signed")
    params = parse_authorization(request.headers.get("authorization"))
    key_id = params["keyId"]
    key = keys.get(key_id)
    if key is None:
        raise SignatureError(f"unknown keyId {key_id!r}")
    signed = params.get("headers", "date").lower().split()
    _check_coverage(method, signed)
    message = _signing_string(request, signed)
    _check_signature(key, params["signature"], message)
    # The signature makes the signed headers authentic; now check what they claim.
    _check_date(request.headers, signed, now, max_skew)
    _check_body(request, signed)
    return key_id


def parse_authorization(header: str | None) -> dict[str, str]:
    """The parameters of a ``Signature`` Authorization header, in any order."""
    if not header:
        raise SignatureError("no Authorization header")
    scheme, _, rest = header.strip().partition(" ")
    if scheme.lower() != "signature":
        raise SignatureError(f"Authorization scheme is {scheme!r}, not 'Signature'")
    params: dict[str, str] = {}
    position = 0
    rest = rest.strip()
    while position < len(rest):
        match = _PARAM.match(rest, position)
        if match is None:
            raise SignatureError(f"malformed Authorization parameters at {rest[position:]!r}")
        name, value = match.group(1), match.group(2)
        # Names are case-insensitive as the SDKs' own parser reads them; keep OCI's spelling.
        name = "keyId" if name.lower() == "keyid" else name.lower()
        if name in params:
            raise SignatureError(f"Authorization parameter {name!r} given twice")
        params[name] = value
        position = match.end()
    for name in ("keyId", "algorithm", "signature"):
        if not params.get(name):
            raise SignatureError(f"Authorization has no {name!r} parameter")
    if params["algorithm"].lower() != ALGORITHM:
        algorithm = params["algorithm"]
        raise SignatureError(f"unsupported algorithm {algorithm!r}, expected {ALGORITHM!r}")
    if params.get("version", VERSION) != VERSION:
        raise SignatureError(f"unsupported signature version {params['version']!r}")
    return params


def _check_coverage(method: str, signed: list[str]) -> None:
    required = REQUIRED_HEADERS + (BODY_HEADERS if method in BODY_METHODS else ())
    missing = [name for name in required if name not in signed]
    if missing:
        raise SignatureError(
            f"{method} signature must cover {', '.join(missing)}; it covers {' '.join(signed)}"
        )
    if not any(name in signed for name in DATE_HEADERS):
        raise SignatureError(f"signature must cover date or x-date; it covers {' '.join(signed)}")


def _signing_string(request: SignedRequest, signed: list[str]) -> bytes:
    lines = []
    for name in signed:
        if name == "(request-target)":
            lines.append(f"{name}: {request.method.lower()} {request.target}")
            continue
        value = request.headers.get(name)
        if value is None:
            raise SignatureError(f"signed header {name!r} is not in the request")
        lines.append(f"{name}: {value}")
    try:
        # ASGI servers decode header bytes as latin-1: encoding back gives the bytes sent.
        return "\n".join(lines).encode("latin-1")
    except UnicodeEncodeError:
        raise SignatureError("signed headers or target hold characters outside latin-1") from None


def _check_signature(key: RSAPublicKey, signature: str, message: bytes) -> None:
    try:
        raw = base64.b64decode(signature, validate=True)
    except binascii.Error:
        raise SignatureError("signature is not valid base64") from None
    try:
        key.verify(raw, message, padding.PKCS1v15(), hashes.SHA256())
    except InvalidSignature:
        raise SignatureError(
            "signature does not match: signed with another key, or a signed header,"
            " the method or the path changed"
        ) from None


def _check_date(
    headers: Mapping[str, str], signed: list[str], now: datetime, max_skew: timedelta
) -> None:
    name = next(name for name in DATE_HEADERS if name in signed)
    value = headers[name]
    try:
        sent = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        raise SignatureError(f"{name} header {value!r} is not an RFC 7231 date") from None
    skew = _utc(now) - _utc(sent)
    if abs(skew) > max_skew:
        direction = "behind" if skew > timedelta(0) else "ahead of"
        raise SignatureError(
            f"{name} {value!r} is {abs(skew).total_seconds():.0f} s {direction} the gateway's"
            f" clock; at most {max_skew.total_seconds():.0f} s either way is accepted"
        )


def _check_body(request: SignedRequest, signed: list[str]) -> None:
    # Checked whenever signed, so a GET that chose to sign its body is held to it too.
    if "x-content-sha256" in signed:
        claimed = request.headers["x-content-sha256"]
        actual = body_sha256(request.body)
        if claimed != actual:
            raise SignatureError(
                f"body does not match x-content-sha256: header says {claimed}, body hashes to"
                f" {actual}"
            )
    if "content-length" in signed:
        claimed = request.headers["content-length"]
        if claimed.strip() != str(len(request.body)):
            raise SignatureError(
                f"content-length says {claimed} but the body is {len(request.body)} bytes"
            )


def _utc(moment: datetime) -> datetime:
    # RFC 7231 dates are GMT; parsedate_to_datetime leaves "-0000" ones naive.
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment
