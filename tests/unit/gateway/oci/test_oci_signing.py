"""OCI request signatures: requests signed by the real OCI SDK signer, checked by gateway.oci."""

import base64
import json
import subprocess
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from oci._vendor import requests
from oci.signer import Signer

from gateway.errors import ConfigError, GatewayError
from gateway.oci.keys import load_keys
from gateway.oci.signing import SignatureError, SignedRequest, fingerprint, verify

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)
TENANCY = "ocid1.tenancy.oc1..aaaatenancy"
USER = "ocid1.user.oc1..aaaauser"
URL = "https://functions.local:8080/20181201/functions/ocid1.fnfunc.oc1..fn/actions/invoke"


def private_pem(key):
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key, fmt=serialization.PublicFormat.SubjectPublicKeyInfo):
    return key.public_key().public_bytes(serialization.Encoding.PEM, fmt).decode()


@pytest.fixture(scope="module")
def private_key():
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="module")
def key_id(private_key):
    return f"{TENANCY}/{USER}/{fingerprint(private_key.public_key())}"


@pytest.fixture(scope="module")
def keys(private_key, key_id):
    return {key_id: private_key.public_key()}


@pytest.fixture(scope="module")
def signer(private_key):
    fp = fingerprint(private_key.public_key())
    return Signer(TENANCY, USER, fp, None, private_key_content=private_pem(private_key))


def signed(auth, method, url=URL, body=None, date=NOW):
    """The request the SDK would send, as the gateway receives it."""
    prepared = requests.Request(method, url, data=body).prepare()
    # The SDK keeps a Date that is already there, so tests choose the clock.
    prepared.headers["date"] = format_datetime(date, usegmt=True)
    auth(prepared)
    body = prepared.body or b""
    return SignedRequest(
        method=prepared.method,
        target=prepared.path_url,
        headers={name.lower(): value for name, value in prepared.headers.items()},
        body=body.encode() if isinstance(body, str) else body,
    )


def hand_signed(private_key, key_id, method, headers, names, target="/x"):
    """A signature over ``names`` made here, for header lists the SDK never sends."""
    lines = [
        f"(request-target): {method.lower()} {target}"
        if n == "(request-target)"
        else f"{n}: {headers[n]}"
        for n in names
    ]
    raw = private_key.sign("\n".join(lines).encode(), padding.PKCS1v15(), hashes.SHA256())
    signature = base64.b64encode(raw).decode()
    headers = dict(headers)
    headers["authorization"] = (
        f'Signature version="1",keyId="{key_id}",algorithm="rsa-sha256",'
        f'headers="{" ".join(names)}",signature="{signature}"'
    )
    return SignedRequest(method, target, headers)


def reason(request, keys, now=NOW):
    with pytest.raises(SignatureError) as caught:
        verify(request, keys, now)
    return caught.value.reason


def test_a_signed_get_verifies_and_names_its_key(signer, keys, key_id):
    request = signed(signer, "GET", URL + "?limit=10&page=abc%20d")
    assert request.target.endswith("?limit=10&page=abc%20d")
    assert verify(request, keys, NOW) == key_id


def test_a_signed_post_with_a_body_verifies(signer, keys, key_id):
    request = signed(signer, "POST", body=b'{"hello": "world"}')
    assert "x-content-sha256" in request.headers["authorization"]
    assert verify(request, keys, NOW) == key_id


def test_put_patch_and_delete_verify(signer, keys, key_id):
    for method in ("PUT", "PATCH", "DELETE", "HEAD"):
        body = b"{}" if method in ("PUT", "PATCH") else None
        assert verify(signed(signer, method, body=body), keys, NOW) == key_id


def test_a_tampered_body_fails_the_body_hash(signer, keys):
    request = signed(signer, "POST", body=b'{"amount": 10}')
    tampered = SignedRequest(request.method, request.target, request.headers, b'{"amount": 99}')
    assert reason(tampered, keys).startswith("body does not match x-content-sha256")


def test_another_key_under_the_same_key_id_fails_the_signature(signer, key_id):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    request = signed(signer, "GET")
    assert reason(request, {key_id: other.public_key()}).startswith("signature does not match")


def test_an_unknown_key_id_is_named(signer, private_key):
    request = signed(signer, "GET")
    assert reason(request, {"someone/else/00": private_key.public_key()}).startswith(
        "unknown keyId 'ocid1.tenancy"
    )


def test_a_date_ten_minutes_old_is_refused_with_the_measured_skew(signer, keys):
    request = signed(signer, "GET", date=NOW - timedelta(minutes=10))
    assert "is 600 s behind the gateway's clock" in reason(request, keys)
    ahead = signed(signer, "GET", date=NOW + timedelta(minutes=6))
    assert "is 360 s ahead of the gateway's clock" in reason(ahead, keys)


def test_a_date_four_minutes_off_either_way_is_accepted(signer, keys, key_id):
    for offset in (timedelta(minutes=-4), timedelta(minutes=4)):
        assert verify(signed(signer, "GET", date=NOW + offset), keys, NOW) == key_id


def test_a_missing_authorization_header_is_the_reason(signer, keys):
    request = signed(signer, "GET")
    headers = {k: v for k, v in request.headers.items() if k != "authorization"}
    assert reason(SignedRequest("GET", request.target, headers), keys) == (
        "no Authorization header"
    )


def test_another_scheme_or_algorithm_is_refused(signer, keys):
    request = signed(signer, "GET")
    auth = request.headers["authorization"]
    basic = {**request.headers, "authorization": "Basic dXNlcjpwYXNz"}
    assert "not 'Signature'" in reason(SignedRequest("GET", request.target, basic), keys)
    hmac = {**request.headers, "authorization": auth.replace("rsa-sha256", "hmac-sha256")}
    assert "unsupported algorithm 'hmac-sha256'" in reason(
        SignedRequest("GET", request.target, hmac), keys
    )


def test_a_post_signed_without_the_content_headers_is_refused(signer, keys):
    request = signed(signer.without_content_headers, "POST", body=b"{}")
    assert "x-content-sha256" not in request.headers["authorization"]
    assert reason(request, keys).startswith(
        "POST signature must cover content-length, content-type, x-content-sha256"
    )


def test_the_query_string_is_covered_by_the_signature(signer, keys):
    request = signed(signer, "GET", URL + "?limit=10")
    changed = SignedRequest("GET", request.target.replace("10", "11"), request.headers)
    assert reason(changed, keys).startswith("signature does not match")


def test_a_signed_header_changed_or_missing_is_refused(signer, keys):
    request = signed(signer, "POST", body=b"{}")
    retyped = {**request.headers, "content-type": "text/plain"}
    assert reason(SignedRequest("POST", request.target, retyped, b"{}"), keys).startswith(
        "signature does not match"
    )
    hostless = {k: v for k, v in request.headers.items() if k != "host"}
    assert reason(SignedRequest("POST", request.target, hostless, b"{}"), keys) == (
        "signed header 'host' is not in the request"
    )


def test_parameters_parse_in_any_order(signer, keys, key_id):
    request = signed(signer, "POST", body=b"[1, 2]")
    scheme, params = request.headers["authorization"].split(" ", 1)
    shuffled = ", ".join(reversed(params.split(",")))
    headers = {**request.headers, "authorization": f"{scheme} {shuffled}"}
    assert shuffled != params
    assert verify(SignedRequest("POST", request.target, headers, b"[1, 2]"), keys, NOW) == key_id


def test_x_date_may_stand_in_for_date(private_key, keys, key_id):
    headers = {"x-date": format_datetime(NOW, usegmt=True), "host": "functions.local"}
    request = hand_signed(
        private_key, key_id, "GET", headers, ["x-date", "(request-target)", "host"]
    )
    assert verify(request, keys, NOW) == key_id
    stale = {**headers, "x-date": format_datetime(NOW - timedelta(hours=1), usegmt=True)}
    request = hand_signed(private_key, key_id, "GET", stale, ["x-date", "(request-target)", "host"])
    assert "x-date" in reason(request, keys)


def test_a_signed_content_length_must_match_the_body(private_key, keys, key_id):
    headers = {
        "date": format_datetime(NOW, usegmt=True),
        "host": "functions.local",
        "content-length": "5",
    }
    names = ["date", "(request-target)", "host", "content-length"]
    request = hand_signed(private_key, key_id, "DELETE", headers, names)
    assert reason(request, keys) == "content-length says 5 but the body is 0 bytes"


def test_an_unparseable_date_is_named(private_key, keys, key_id):
    headers = {"date": "yesterday", "host": "functions.local"}
    request = hand_signed(private_key, key_id, "GET", headers, ["date", "(request-target)", "host"])
    assert reason(request, keys) == "date header 'yesterday' is not an RFC 7231 date"


def test_the_error_is_a_401_that_tells_the_client_why(signer, keys):
    request = signed(signer, "GET", date=NOW - timedelta(minutes=10))
    with pytest.raises(GatewayError) as caught:
        verify(request, keys, NOW)
    assert caught.value.status == 401
    assert caught.value.message.startswith("The required information to complete authentication")
    assert "600 s behind" in caught.value.message


def test_fingerprint_matches_openssl(private_key, tmp_path):
    pem = tmp_path / "key.pem"
    pem.write_text(private_pem(private_key))
    der = subprocess.run(
        ["openssl", "rsa", "-in", str(pem), "-pubout", "-outform", "DER"],
        capture_output=True,
        check=True,
    ).stdout
    out = subprocess.run(
        ["openssl", "md5", "-c"], input=der, capture_output=True, check=True
    ).stdout.decode()
    assert fingerprint(private_key.public_key()) == out.split("= ")[1].strip()


# The key file.


def test_a_key_file_loads_both_public_key_formats(private_key, key_id, tmp_path):
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    path = tmp_path / "keys.json"
    path.write_text(
        json.dumps(
            {
                key_id: public_pem(private_key),
                "local-dev": public_pem(other, serialization.PublicFormat.PKCS1),
            }
        )
    )
    keys = load_keys(path)
    assert set(keys) == {key_id, "local-dev"}
    assert fingerprint(keys["local-dev"]) == fingerprint(other.public_key())
    assert keys[key_id].public_numbers() == private_key.public_key().public_numbers()


def test_a_yaml_key_file_verifies_sdk_requests(signer, private_key, key_id, tmp_path):
    path = tmp_path / "keys.yaml"
    indented = "".join(f"  {line}\n" for line in public_pem(private_key).splitlines())
    path.write_text(f"{key_id}: |\n{indented}")
    assert verify(signed(signer, "GET"), load_keys(path), NOW) == key_id


def test_a_key_id_whose_fingerprint_is_another_keys_is_refused(private_key, tmp_path):
    path = tmp_path / "keys.yaml"
    wrong = f"{TENANCY}/{USER}/" + ":".join(["ab"] * 16)
    path.write_text(json.dumps({wrong: public_pem(private_key)}))
    with pytest.raises(ConfigError, match=rf"{path}: .*ab:ab.*but the key's is ") as caught:
        load_keys(path)
    assert wrong in caught.value.message


def test_an_ec_key_is_refused(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    path = tmp_path / "keys.yaml"
    path.write_text(json.dumps({"ec-key": public_pem(key)}))
    with pytest.raises(ConfigError, match=r"ec-key: ECPublicKey is not RSA; OCI API keys are RSA"):
        load_keys(path)


def test_garbage_key_files_are_refused_naming_file_and_key(private_key, tmp_path):
    cases = {
        "missing.yaml": (None, "not found"),
        "bad.yaml": ("a: [unclosed", "not valid YAML"),
        "list.yaml": ("- a\n- b\n", "expected a mapping of keyId to PEM public key, found list"),
        "empty.yaml": ("", "found nothing"),
        "pem.yaml": ("k1: not a pem\n", "k1: not a PEM public key"),
        "number.yaml": ("k2: 42\n", "k2: expected a PEM public key string, found int"),
        "private.json": (json.dumps({"k3": private_pem(private_key)}), "k3: is a private key"),
    }
    for name, (text, expected) in cases.items():
        path = tmp_path / name
        if text is not None:
            path.write_text(text)
        with pytest.raises(ConfigError) as caught:
            load_keys(path)
        assert caught.value.message.startswith(str(path)), name
        assert expected in caught.value.message, name
