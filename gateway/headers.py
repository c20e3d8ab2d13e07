"""Fn's header rewriting for HTTP triggers, both ways, as the Fn server does it."""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import quote

HTTP_PREFIX = "Fn-Http-H-"
# Reserved characters and "%": quote() keeps them, and letters, digits and "_.-~".
_URL_SAFE = "!#$%&'()*+,/:;=?@[]"
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "host",
    }
)


def strip_hop_by_hop(headers: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """Headers that belong to one connection do not cross to the next."""
    return [(name, value) for name, value in headers if name.lower() not in _HOP_BY_HOP]


def trigger_request(
    headers: Iterable[tuple[str, str]], method: str, url: str
) -> list[tuple[str, str]]:
    """What the function receives: every client header but Content-Type as
    ``Fn-Http-H-<Name>``, plus the method, the full URL and ``Fn-Intent``.

    The URL's path may come percent-decoded (Starlette's ``request.url`` does
    that): whatever is not printable ASCII in it is encoded again, as Fn's
    server sends it, so that no character can break the header line."""
    rewritten = []
    for name, value in strip_hop_by_hop(list(headers)):
        if name.lower() == "content-type":
            rewritten.append(("Content-Type", value))
        else:
            rewritten.append((HTTP_PREFIX + _canonical(name), value))
    rewritten += [
        ("Fn-Http-Method", method),
        ("Fn-Http-Request-Url", quote(url, safe=_URL_SAFE)),
        ("Fn-Intent", "httprequest"),
    ]
    return rewritten


def trigger_response(headers: Iterable[tuple[str, str]]) -> tuple[int, list[tuple[str, str]]]:
    """What the client receives: the status from ``Fn-Http-Status`` (200 when
    absent), ``Content-Type``, and each ``Fn-Http-H-<Name>`` as ``<Name>``."""
    status = 200
    kept = []
    prefix = HTTP_PREFIX.lower()
    for name, value in headers:
        lowered = name.lower()
        if lowered == "fn-http-status":
            status = _status(value)
        elif lowered == "content-type":
            kept.append(("Content-Type", value))
        elif lowered.startswith(prefix) and len(name) > len(prefix):
            kept.append((_canonical(name[len(prefix) :]), value))
    return status, strip_hop_by_hop(kept)


# The gateway sets these for each call; a client's own would contradict them.
_PLATFORM = frozenset({"fn-call-id", "fn-deadline"})


def invoke_request(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """What the function receives on a plain invoke: the client's headers, without
    hop-by-hop ones and without the call id and deadline the gateway sets."""
    return [(n, v) for n, v in strip_hop_by_hop(list(headers)) if n.lower() not in _PLATFORM]


def invoke_response(headers: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """What the client receives on a plain invoke: all of the function's headers."""
    return strip_hop_by_hop(list(headers))


def _canonical(name: str) -> str:
    # Go's canonical MIME header form, which is how the Fn server spells them.
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


def _status(value: str) -> int:
    try:
        status = int(value)
    except ValueError:
        return 200
    # 1xx would make the client wait for another answer; only final statuses pass.
    return status if 200 <= status <= 599 else 200
