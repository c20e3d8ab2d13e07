"""Properties of OCI request signatures: nothing a client sends makes verify raise
anything but SignatureError, a signed request changed by a single byte of its
method, path, body or a signed header no longer verifies, and any keys file is
keys or a ConfigError."""

import base64
import contextlib
import tempfile
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.errors import ConfigError
from gateway.oci.keys import load_keys
from gateway.oci.signing import (
    SignatureError,
    SignedRequest,
    body_sha256,
    parse_authorization,
    verify,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
KEY_ID = "ocid1.tenancy.oc1..t/ocid1.user.oc1..u/00:11"
BODY_METHODS = ("POST", "PUT", "PATCH")
METHODS = (*BODY_METHODS, "GET", "HEAD", "DELETE")

# Latin-1 text without CR, LF or NUL: what a header value can be on the wire.
header_text = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=40
)
param_names = st.sampled_from(["keyId", "keyid", "algorithm", "signature", "headers", "version"])
authorizations = st.one_of(
    st.text(max_size=60),
    st.builds(
        lambda scheme, params: f"{scheme} " + ",".join(f'{n}="{v}"' for n, v in params),
        st.sampled_from(["Signature", "signature", "Basic", ""]),
        st.lists(
            st.tuples(
                param_names | st.text(max_size=5),
                st.text(max_size=20).filter(lambda v: '"' not in v),
            ),
            max_size=7,
        ),
    ),
)
dates = st.one_of(
    st.datetimes(timezones=st.just(UTC)).map(lambda moment: format_datetime(moment, usegmt=True)),
    st.sampled_from(
        ["Mon, 01 Jan 0001 00:00:00 +2359", "Fri, 31 Dec 9999 23:59:59 -2359", "99 Foo", ""]
    ),
    header_text,
)


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def sign(private_key, method, target, headers, body=b"", names=None):
    """A request signed as the OCI SDK signs it: over the date, the target and
    the host, and for a body also its length, type and hash."""
    headers = dict(headers)
    if method in BODY_METHODS:
        headers |= {"content-length": str(len(body)), "x-content-sha256": body_sha256(body)}
        headers.setdefault("content-type", "application/json")
    names = names or [
        "date",
        "(request-target)",
        "host",
        *(("content-length", "content-type", "x-content-sha256") if method in BODY_METHODS else ()),
    ]
    lines = [
        f"(request-target): {method.lower()} {target}"
        if n == "(request-target)"
        else f"{n}: {headers[n]}"
        for n in names
    ]
    raw = private_key.sign("\n".join(lines).encode("latin-1"), padding.PKCS1v15(), hashes.SHA256())
    headers["authorization"] = (
        f'Signature version="1",keyId="{KEY_ID}",algorithm="rsa-sha256",'
        f'headers="{" ".join(names)}",signature="{base64.b64encode(raw).decode()}"'
    )
    return SignedRequest(method, target, headers, body)


targets = st.builds(
    "/20181201/{}{}".format,
    st.from_regex(r"[A-Za-z0-9._~%-]{1,20}(/[A-Za-z0-9._~%-]{1,20}){0,3}", fullmatch=True),
    st.just("") | st.from_regex(r"\?[A-Za-z0-9=&%._-]{0,20}", fullmatch=True),
)
requests = st.fixed_dictionaries(
    {
        "method": st.sampled_from(METHODS),
        "target": targets,
        "host": st.from_regex(r"[a-z0-9.-]{1,20}(:[0-9]{1,5})?", fullmatch=True),
        "body": st.binary(min_size=1, max_size=64),
        "content_type": st.sampled_from(
            ["application/json", "text/plain", "application/octet-stream"]
        ),
    }
)


def signed_request(private_key, spec, date=NOW):
    headers = {"date": format_datetime(date, usegmt=True), "host": spec["host"]}
    if spec["method"] in BODY_METHODS:
        headers["content-type"] = spec["content_type"]
        body = spec["body"]
    else:
        body = b""
    return sign(private_key, spec["method"], spec["target"], headers, body)


@settings(max_examples=300)
@given(header=st.none() | authorizations)
def test_any_authorization_header_parses_or_is_a_signature_error(header):
    try:
        params = parse_authorization(header)
    except SignatureError:
        return
    assert params["keyId"]
    assert params["signature"]
    assert params["algorithm"].lower() == "rsa-sha256"


@settings(max_examples=200)
@given(
    method=st.sampled_from([*METHODS, "OPTIONS", "post", "X"]),
    authorization=st.none() | authorizations,
    headers=st.dictionaries(
        st.sampled_from(
            ["date", "x-date", "host", "content-length", "content-type", "x-content-sha256"]
        ),
        header_text,
    ),
    body=st.binary(max_size=20),
)
def test_any_request_verifies_or_is_a_signature_error(
    private_key, method, authorization, headers, body
):
    if authorization is not None:
        headers = {**headers, "authorization": authorization}
    keys = {KEY_ID: private_key.public_key()}
    try:
        verify(SignedRequest(method, "/20181201/applications", headers, body), keys, NOW)
    except SignatureError:
        return
    raise AssertionError("a request no one signed verified")


@settings(max_examples=100)
@given(spec=requests, date=dates)
def test_a_request_signed_over_any_date_verifies_or_is_a_signature_error(private_key, spec, date):
    headers = {"date": date, "host": spec["host"]}
    request = sign(private_key, "GET", spec["target"], headers)
    with contextlib.suppress(SignatureError):
        assert verify(request, {KEY_ID: private_key.public_key()}, NOW) == KEY_ID


def changed_byte(text, position, replacement):
    """``text`` with the character at ``position`` replaced by a different one."""
    position %= len(text)
    old = text[position]
    new = replacement if replacement != old else ("a" if old != "a" else "b")
    return text[:position] + new + text[position + 1 :]


@settings(max_examples=150)
@given(
    spec=requests,
    part=st.sampled_from(["method", "target", "body", "header"]),
    position=st.integers(0, 1000),
    replacement=st.characters(min_codepoint=0x21, max_codepoint=0x7E),
    skew=st.integers(-240, 240).map(lambda s: timedelta(seconds=s)),
)
def test_a_single_changed_byte_of_a_signed_request_fails_verification(
    private_key, spec, part, position, replacement, skew
):
    keys = {KEY_ID: private_key.public_key()}
    request = signed_request(private_key, spec, NOW + skew)
    assert verify(request, keys, NOW) == KEY_ID
    method, target, headers, body = (
        request.method,
        request.target,
        dict(request.headers),
        request.body,
    )
    if part == "method":
        # Methods are case-insensitive to verify (servers pass them upper-case):
        # the change must make another method.
        method = changed_byte(method, position, replacement)
        if method.upper() == request.method:
            method = changed_byte(
                method, position, "Z" if method[position % len(method)] != "Z" else "Y"
            )
    elif part == "target":
        target = changed_byte(target, position, replacement)
    elif part == "body" and request.method in BODY_METHODS:
        index = position % len(body)
        body = body[:index] + bytes([body[index] ^ (1 + position % 255)]) + body[index + 1 :]
    else:
        signed = parse_authorization(headers["authorization"])["headers"].split()
        name = [n for n in signed if n != "(request-target)"][position % (len(signed) - 1)]
        headers[name] = changed_byte(headers[name], position, replacement)
    with pytest.raises(SignatureError):
        verify(SignedRequest(method, target, headers, body), keys, NOW)


keys_files = st.one_of(
    st.sampled_from(
        [
            "k: 2001-02-30",
            "k: !!float abc",
            "[" * 600,
            "k: |\n  -----BEGIN PUBLIC KEY-----\n  AAAA\n  -----END PUBLIC KEY-----\n",
            "k: -----BEGIN RSA PRIVATE KEY-----",
            "a/b/c: 1",
            "{}",
        ]
    ),
    st.dictionaries(st.text(max_size=10), st.text(max_size=20) | st.integers()).map(repr),
    st.text(max_size=100),
)


@settings(max_examples=100)
@given(text=keys_files)
@example(text="k: 2001-02-30")
def test_any_keys_file_is_keys_or_a_config_error(text):
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "keys.yaml"
        path.write_text(text)
        try:
            keys = load_keys(path)
        except ConfigError:
            return
    assert keys
