"""API keys: who may call what, and how a keys file is read."""

import hashlib

import pytest

from gateway.access import Access, credential, parse_keys
from gateway.errors import AccessDeniedError, UnauthenticatedError

INGEST = "ingest-key-0123456789"
ADMIN = "admin-key-0123456789"

KEYS = f"""
keys:
  - name: ingest
    key: {INGEST}
    scopes: [publish]
    apps: [eventfn]
  - name: admin
    sha256: {hashlib.sha256(ADMIN.encode()).hexdigest()}
"""


def access() -> Access:
    return parse_keys(KEYS, "keys.yaml")


def test_a_key_is_taken_from_a_bearer_token_or_x_api_key():
    assert credential({"authorization": f"Bearer {INGEST}"}) == INGEST
    assert credential({"authorization": f"bearer  {INGEST} "}) == INGEST
    assert credential({"x-api-key": INGEST}) == INGEST
    assert credential({"authorization": "Basic abc"}) is None
    assert credential({}) is None


def test_no_key_or_an_unknown_one_is_401_without_echoing_it():
    with pytest.raises(UnauthenticatedError) as missing:
        access().check({}, "publish")
    assert missing.value.status == 401
    assert missing.value.headers["WWW-Authenticate"].startswith("Bearer")
    with pytest.raises(UnauthenticatedError) as wrong:
        access().check({"x-api-key": "not-a-key-at-all"}, "publish")
    assert "not-a-key-at-all" not in wrong.value.message


def test_a_key_does_only_what_its_scopes_and_apps_allow():
    ingest = access().check({"x-api-key": INGEST}, "publish")
    assert ingest.name == "ingest"
    Access.check_app(ingest, "eventfn")
    with pytest.raises(AccessDeniedError, match='"ingest" may not invoke functions'):
        access().check({"x-api-key": INGEST}, "invoke")
    with pytest.raises(AccessDeniedError, match='functions of app "other"'):
        Access.check_app(ingest, "other")
    admin = access().check({"authorization": f"Bearer {ADMIN}"}, "manage")
    Access.check_app(admin, "any")  # no scopes or apps given: everything


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("keys: []", "non-empty list"),
        ("keys: [{name: a}]", "exactly one of key and sha256"),
        ("keys: [{name: a, key: short}]", "16 characters"),
        ("keys: [{name: a, sha256: abc}]", "64 hexadecimal"),
        (f"keys: [{{name: a, key: {INGEST}, scopes: [everything]}}]", "unknown scopes"),
        (f"keys: [{{name: a, key: {INGEST}}}, {{name: a, key: {ADMIN}}}]", "unique"),
        ("keys: [", "not YAML"),
    ],
)
def test_a_bad_keys_file_is_refused_with_the_reason(text, problem):
    with pytest.raises(Exception, match=problem) as error:
        parse_keys(text, "keys.yaml")
    assert str(error.value).startswith("keys.yaml")
