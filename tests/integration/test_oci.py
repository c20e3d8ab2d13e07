"""The OCI Functions API as the real ``oci`` SDK and CLI see it, against a gateway
that requires signed requests and runs the fixture app's fdk processes."""

from __future__ import annotations

import email.utils
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import oci
import orjson
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from oci._vendor import requests as oci_requests

from gateway.oci.signing import fingerprint
from infra.ports import free_port
from infra.waiting import wait_until
from tests.clients import OCI_CLI
from tests.support import COLD, FIXTURE_APP, autoscaler_config, metric, running

pytestmark = pytest.mark.integration

COMPARTMENT = "ocid1.compartment.oc1..eventfn"
TENANCY = "ocid1.tenancy.oc1..bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
USER = "ocid1.user.oc1..aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
FUNCTIONS = {"echo", "behave", "flaky", "patient", "badinit"}
# Connect and read timeouts for every SDK call, so no test can hang.
TIMEOUT = (5, 30)

needs_oci_cli = pytest.mark.skipif(
    not OCI_CLI.exists(), reason="the oci CLI is not installed (scripts/lib/clients.sh installs it)"
)


@dataclass(frozen=True)
class Gateway:
    """A gateway that trusts one key, and the files a client needs to use it."""

    base: str
    tmp: Path
    config_file: Path  # an OCI config file whose DEFAULT profile holds the trusted key
    config: dict[str, Any]  # that profile, as the SDK reads it
    trusted_pem: bytes
    other_pem: bytes  # a private key the gateway does not know


def new_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: rsa.RSAPrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def write_config(path: Path, key_file: Path, key_fingerprint: str) -> Path:
    path.write_text(
        f"[DEFAULT]\nuser={USER}\nfingerprint={key_fingerprint}\ntenancy={TENANCY}\n"
        f"region=us-ashburn-1\nkey_file={key_file}\n"
    )
    path.chmod(0o600)
    return path


def secret(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    path.chmod(0o600)
    return path


def gateway_settings(tmp: Path, port: int, **env: str) -> dict[str, str]:
    return {
        "EVENTFN_ROOT": str(FIXTURE_APP),
        "EVENTFN_RUN_DIR": str(tmp),
        "PORT": str(port),
        **env,
    }


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("oci")
    trusted, other = new_key(), new_key()
    trusted_fingerprint = fingerprint(trusted.public_key())
    public_pem = trusted.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    keys = tmp / "oci-keys.yaml"
    keys.write_text(
        yaml.safe_dump({f"{TENANCY}/{USER}/{trusted_fingerprint}": public_pem.decode()})
    )
    key_file = secret(tmp / "key.pem", private_pem(trusted))
    config_file = write_config(tmp / "config", key_file, trusted_fingerprint)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    settings = gateway_settings(tmp, port, EVENTFN_OCI_KEYS=str(keys))
    with running("gateway", settings, f"{base}/readyz", tmp / "gateway.log"):
        yield Gateway(
            base=base,
            tmp=tmp,
            config_file=config_file,
            config=oci.config.from_file(str(config_file)),
            trusted_pem=private_pem(trusted),
            other_pem=private_pem(other),
        )


@pytest.fixture(scope="module")
def management(gateway: Gateway) -> oci.functions.FunctionsManagementClient:
    return oci.functions.FunctionsManagementClient(
        gateway.config,
        service_endpoint=gateway.base,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=TIMEOUT,
    )


@pytest.fixture(scope="module")
def echo(management: oci.functions.FunctionsManagementClient) -> oci.functions.models.Function:
    (app,) = management.list_applications(compartment_id=COMPARTMENT, display_name="fixtures").data
    (summary,) = management.list_functions(application_id=app.id, display_name="echo").data
    return management.get_function(summary.id).data


def invoker(endpoint: str, config: dict[str, Any]) -> oci.functions.FunctionsInvokeClient:
    return oci.functions.FunctionsInvokeClient(
        config,
        service_endpoint=endpoint,
        retry_strategy=oci.retry.NoneRetryStrategy(),
        timeout=TIMEOUT,
    )


def calls(base: str, function: str, status: str = "") -> float:
    """Calls of ``function`` the gateway has run, with ``status`` or with any status."""
    text = httpx.get(f"{base}/metrics", timeout=10).text
    if status:
        return metric(text, "eventfn_function_calls_total", function=function, status=status)
    prefix = f'eventfn_function_calls_total{{function="{function}",'
    return sum(
        float(line.rpartition(" ")[2]) for line in text.splitlines() if line.startswith(prefix)
    )


def oci_cli(
    gateway: Gateway, *args: str, config_file: Path | None = None
) -> subprocess.CompletedProcess[str]:
    """The real oci CLI against the gateway, with a home of its own."""
    home = gateway.tmp / "home"
    home.mkdir(exist_ok=True)
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "OCI_CLI_SUPPRESS_FILE_PERMISSIONS_WARNING": "True",
        "SUPPRESS_LABEL_WARNING": "True",
    }
    command = [
        str(OCI_CLI),
        "--config-file",
        str(config_file or gateway.config_file),
        "--endpoint",
        gateway.base,
        "--no-retry",
        *args,
    ]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)


# -- reading applications and functions ------------------------------------------------------


def test_sdk_lists_and_gets_the_fixture_application(gateway, management):
    apps = management.list_applications(compartment_id=COMPARTMENT).data
    (app,) = [a for a in apps if a.display_name == "fixtures"]
    assert app.lifecycle_state == "ACTIVE"
    assert app.compartment_id == COMPARTMENT
    got = management.get_application(app.id).data
    assert (got.id, got.display_name, got.lifecycle_state) == (app.id, "fixtures", "ACTIVE")
    assert got.config["FIXTURE_APP"] == "app-value"
    functions = management.list_functions(application_id=app.id).data
    assert {f.display_name for f in functions} == FUNCTIONS
    assert {f.application_id for f in functions} == {app.id}


def test_sdk_gets_a_function_with_the_gateway_as_its_invoke_endpoint(gateway, echo):
    assert echo.display_name == "echo"
    assert echo.lifecycle_state == "ACTIVE"
    assert echo.invoke_endpoint == gateway.base
    assert echo.memory_in_mbs == 64
    assert echo.timeout_in_seconds == 10
    assert echo.config == {"FIXTURE_SHARED": "from-fn"}


def test_sdk_pagination_walks_every_page_once(management, echo):
    pages = list(
        oci.pagination.list_call_get_all_results_generator(
            management.list_functions, "response", application_id=echo.application_id, limit=2
        )
    )
    assert [len(page.data) for page in pages] == [2, 2, 1]
    assert [bool(page.next_page) for page in pages] == [True, True, False]
    everything = oci.pagination.list_call_get_all_results(
        management.list_functions, application_id=echo.application_id, limit=2
    ).data
    names = [f.display_name for f in everything]
    assert sorted(names) == sorted(FUNCTIONS)


def test_sdk_lists_nothing_in_another_compartment(management):
    other = "ocid1.compartment.oc1..someoneelse"
    assert management.list_applications(compartment_id=other).data == []


def test_sdk_get_of_an_unknown_function_is_404(management):
    with pytest.raises(oci.exceptions.ServiceError) as raised:
        management.get_function("ocid1.fnfunc.oc1..nosuchfunction")
    assert raised.value.status == 404
    assert raised.value.code == "NotAuthorizedOrNotFound"
    assert raised.value.request_id
    with pytest.raises(oci.exceptions.ServiceError) as listed:
        management.list_functions(application_id="ocid1.fnapp.oc1..nosuchapp")
    assert (listed.value.status, listed.value.code) == (404, "NotAuthorizedOrNotFound")


# -- invoking ---------------------------------------------------------------------------------


def test_sdk_invoke_runs_the_function_without_the_callers_credentials(gateway, echo):
    client = invoker(echo.invoke_endpoint, gateway.config)
    sent = '{"hello": "from the oci sdk"}'
    before = calls(gateway.base, "echo")
    response = client.invoke_function(
        echo.id, invoke_function_body=sent, opc_request_id="test-request-0001"
    )
    assert response.status == 200
    assert response.headers["opc-request-id"] == "test-request-0001"
    assert response.headers["fn-call-id"]
    seen = orjson.loads(response.data.content)
    assert seen["body"] == sent
    assert "authorization" not in seen["headers"]
    assert seen["env"]["FN_FN_ID"] == echo.id
    # What the rejection tests count on to see that nothing ran.
    assert calls(gateway.base, "echo") == before + 1


def test_sdk_detached_invoke_answers_202_before_the_function_finishes(gateway, management, echo):
    (patient,) = management.list_functions(
        application_id=echo.application_id, display_name="patient"
    ).data
    before = calls(gateway.base, "patient", "200")
    started = time.monotonic()
    response = invoker(gateway.base, gateway.config).invoke_function(
        patient.id, invoke_function_body='{"seconds": 2}', fn_invoke_type="detached"
    )
    assert response.status == 202
    assert time.monotonic() - started < 1.5
    wait_until(
        lambda: calls(gateway.base, "patient", "200") > before,
        timeout=10,
        what="the detached call to run",
    )


@needs_oci_cli
def test_cli_invokes_and_gets_a_function(gateway, echo):
    sent = '{"hello": "from the oci cli"}'
    invoked = oci_cli(
        gateway, "fn", "function", "invoke", "--function-id", echo.id, "--file", "-", "--body", sent
    )
    assert invoked.returncode == 0, invoked.stderr
    seen = orjson.loads(invoked.stdout)
    assert seen["body"] == sent
    assert "authorization" not in seen["headers"]
    got = oci_cli(gateway, "fn", "function", "get", "--function-id", echo.id)
    assert got.returncode == 0, got.stderr
    document = orjson.loads(got.stdout)["data"]
    assert document["display-name"] == "echo"
    assert document["invoke-endpoint"] == gateway.base


# -- rejections -------------------------------------------------------------------------------


def signed_headers(
    signer: oci.signer.Signer, url: str, body: bytes, **headers: str
) -> dict[str, str]:
    """The headers the SDK's own signer puts on a POST of ``body`` to ``url``."""
    prepared = oci_requests.Request("POST", url, data=body, headers=headers).prepare()
    signer(prepared)
    return dict(prepared.headers)


def signer_for(gateway: Gateway, pem: bytes, user: str = USER) -> oci.signer.Signer:
    """The SDK's signer for ``pem`` under the trusted key's fingerprint (and ``user``)."""
    return oci.signer.Signer(
        TENANCY,
        user,
        gateway.config["fingerprint"],
        private_key_file_location=None,
        private_key_content=pem.decode(),
    )


BODY = b'{"run": "me"}'


def tampered_body(gateway: Gateway, url: str) -> tuple[dict[str, str], bytes]:
    headers = signed_headers(signer_for(gateway, gateway.trusted_pem), url, BODY)
    return headers, BODY.replace(b"me", b"us")  # the same length: only the hash can tell


def wrong_key(gateway: Gateway, url: str) -> tuple[dict[str, str], bytes]:
    return signed_headers(signer_for(gateway, gateway.other_pem), url, BODY), BODY


def unknown_key_id(gateway: Gateway, url: str) -> tuple[dict[str, str], bytes]:
    signer = signer_for(gateway, gateway.trusted_pem, user="ocid1.user.oc1..cccccccc")
    return signed_headers(signer, url, BODY), BODY


def stale_date(gateway: Gateway, url: str) -> tuple[dict[str, str], bytes]:
    date = email.utils.formatdate(time.time() - 600, usegmt=True)
    return signed_headers(signer_for(gateway, gateway.trusted_pem), url, BODY, date=date), BODY


def unsigned(gateway: Gateway, url: str) -> tuple[dict[str, str], bytes]:
    return {"content-type": "application/json"}, BODY


@pytest.mark.parametrize(
    ("build", "reason"),
    [
        (tampered_body, "body does not match x-content-sha256"),
        (wrong_key, "signature does not match"),
        (unknown_key_id, "unknown keyId"),
        (stale_date, "behind the gateway's clock"),
        (unsigned, "no Authorization header"),
    ],
    ids=["tampered-body", "wrong-key", "unknown-key-id", "stale-date", "unsigned"],
)
def test_an_unauthentic_invoke_gets_401_and_runs_nothing(
    gateway: Gateway,
    echo,
    build: Callable[[Gateway, str], tuple[dict[str, str], bytes]],
    reason: str,
):
    url = f"{gateway.base}/20260325/functions/{echo.id}/actions/invoke"
    headers, body = build(gateway, url)
    before = calls(gateway.base, "echo")
    response = httpx.post(url, content=body, headers=headers, timeout=30)
    assert response.status_code == 401
    document = response.json()
    assert document["code"] == "NotAuthenticated"
    assert reason in document["message"]
    assert response.headers["opc-request-id"]
    assert calls(gateway.base, "echo") == before


def test_an_unsigned_listing_gets_401(gateway):
    response = httpx.get(
        f"{gateway.base}/20181201/applications", params={"compartmentId": COMPARTMENT}, timeout=10
    )
    assert response.status_code == 401
    assert response.json()["code"] == "NotAuthenticated"


@needs_oci_cli
def test_cli_with_the_wrong_key_file_is_refused(gateway, echo):
    wrong = write_config(
        gateway.tmp / "wrong-config",
        secret(gateway.tmp / "other.pem", gateway.other_pem),
        gateway.config["fingerprint"],
    )
    before = calls(gateway.base, "echo")
    refused = oci_cli(
        gateway,
        "fn",
        "function",
        "invoke",
        "--function-id",
        echo.id,
        "--file",
        "-",
        "--body",
        "{}",
        config_file=wrong,
    )
    assert refused.returncode != 0
    output = refused.stdout + refused.stderr
    assert "401" in output
    assert "NotAuthenticated" in output
    assert calls(gateway.base, "echo") == before


# -- without keys ---------------------------------------------------------------------------


def test_a_gateway_without_keys_is_open_and_says_so(tmp_path):
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log_path = tmp_path / "gateway.log"
    settings = gateway_settings(
        tmp_path, port, EVENTFN_AUTOSCALER_CONFIG=autoscaler_config(tmp_path, **COLD)
    )
    with running("gateway", settings, f"{base}/readyz", log_path):
        response = httpx.get(
            f"{base}/20181201/applications", params={"compartmentId": COMPARTMENT}, timeout=10
        )
        assert response.status_code == 200
        assert [a["displayName"] for a in response.json()] == ["fixtures"]
    assert "OCI API is open" in log_path.read_text()
