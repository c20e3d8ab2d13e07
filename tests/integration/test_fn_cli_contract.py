"""The fn CLI's contract, from what the real fn CLI 0.6.63 sent and got.

Every request recorded in ``tests/fncli/recorded/`` is sent again, in order,
to a fresh gateway, and each answer is held to the one the CLI got when it
did what the README says (``tests/fncli/exchanges.py`` says how). No fn binary
is needed; with ``EVENTFN_FN_CLI`` set, the last test records anew with it and
checks that the CLI still sends what the files hold.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import orjson
import pytest

from tests.clients import FN_CLI
from tests.fncli import exchanges
from tests.fncli.exchanges import GATEWAY, HOP_HEADERS, Ids, Message, MismatchError, Step
from tests.fncli.gateway import contract_gateway

pytestmark = pytest.mark.integration

STEPS = exchanges.load()


def replay(step: Step, client: httpx.Client, ids: Ids) -> list[str]:
    """Send the step's requests; the mismatches found (none when it holds)."""
    base = str(client.base_url).rstrip("/")
    for recorded in step.exchanges:
        headers = {k: v for k, v in recorded.request.headers.items() if k not in HOP_HEADERS}
        body = ids.substitute(recorded.request.body.decode().replace(GATEWAY, base))
        answer = client.request(
            recorded.method,
            ids.substitute(recorded.target),
            headers=headers,
            content=body.encode(),
        )
        got = Message(
            {k.lower(): exchanges.placeholder(v, base) for k, v in answer.headers.items()},
            exchanges.placeholder(answer.text, base).encode(),
        )
        try:
            exchanges.match_response(recorded, answer.status_code, got, ids)
        except MismatchError as mismatch:
            return [str(mismatch)]
    return []


@pytest.fixture(scope="module")
def replayed(tmp_path_factory, kafka_bootstrap) -> Iterator[dict[str, list[str]]]:
    work = tmp_path_factory.mktemp("fn-cli-contract")
    ids = Ids()
    with (
        contract_gateway(work, kafka_bootstrap) as base,
        httpx.Client(base_url=base, timeout=60) as client,
    ):
        yield {step.name: replay(step, client, ids) for step in STEPS}


@pytest.mark.parametrize("name", [step.name for step in STEPS])
def test_the_gateway_answers_as_the_fn_cli_was_answered(replayed, name):
    assert replayed[name] == []


def test_the_recording_covers_the_commands_the_readme_lists():
    commands = {" ".join(step.args[:2]) for step in STEPS}
    assert commands >= {
        "list apps",
        "list functions",
        "list triggers",
        "inspect function",
        "invoke eventfn",
        "create app",
        "create function",
        "update function",
        "config function",
        "delete function",
        "delete app",
    }
    assert any("--content-type" in step.args for step in STEPS)
    errors = {step.stderr.strip() for step in STEPS if step.exit_code != 0}
    assert errors >= {
        "Fn: App already exists\n\nSee 'fn <command> --help' for more information. "
        "Client version: 0.6.63",
        "Fn: app no-such-app not found\n\nSee 'fn <command> --help' for more information. "
        "Client version: 0.6.63",
    }
    # Every request of the sessions has a recorded answer to hold the gateway to.
    assert sum(len(step.exchanges) for step in STEPS) >= 30


def recorded(name: str) -> Step:
    return next(step for step in STEPS if step.name == name)


def test_a_renamed_or_changed_field_is_a_mismatch():
    exchange = recorded("04-inspect-function").exchanges[-1]
    good = exchange.response
    exchanges.match_response(exchange, exchange.status, good, Ids())
    function = good.json()["items"][0]
    broken = [
        {**function, "idle_timout": function["idle_timeout"]},
        {**function, "memory": str(function["memory"])},
        {**function, "created_at": "yesterday"},
        {**function, "annotations": {}},
    ]
    del broken[0]["idle_timeout"]
    for document in broken:
        body = orjson.dumps({"items": [document]})
        with pytest.raises(MismatchError):
            exchanges.match_response(exchange, 200, Message(good.headers, body), Ids())
    with pytest.raises(MismatchError, match="status 404"):
        exchanges.match_response(exchange, 404, good, Ids())


def test_ids_stand_for_the_same_id_throughout():
    ids = Ids()
    exchanges.match({"id": "A" * 26, "app_id": "B" * 26}, {"id": "C" * 26, "app_id": "D" * 26}, ids)
    assert ids.substitute(f"/v2/fns/{'A' * 26}") == f"/v2/fns/{'C' * 26}"
    with pytest.raises(MismatchError, match="stands where"):
        exchanges.match({"fn_id": "A" * 26}, {"fn_id": "D" * 26}, ids)
    with pytest.raises(MismatchError, match="not-an-id"):
        exchanges.match({"id": "E" * 26}, {"id": "not-an-id"}, ids)


def test_a_missing_call_id_header_is_a_mismatch():
    exchange = recorded("05-invoke").exchanges[-1]
    headers = {k: v for k, v in exchange.response.headers.items() if k != "fn-call-id"}
    with pytest.raises(MismatchError, match="no fn-call-id"):
        exchanges.match_response(exchange, 200, Message(headers, exchange.response.body), Ids())


@pytest.mark.skipif(
    not FN_CLI.exists(), reason="records anew only with a real fn CLI (EVENTFN_FN_CLI)"
)
def test_the_real_fn_cli_still_sends_what_was_recorded(tmp_path, kafka_bootstrap):
    from tests.fncli.record import record

    record(FN_CLI, tmp_path, kafka_bootstrap)
    again = exchanges.load(tmp_path)
    assert [step.name for step in again] == [step.name for step in STEPS]
    ids = Ids()
    for then, now in zip(STEPS, again, strict=True):
        assert (now.args, now.exit_code) == (then.args, then.exit_code)
        assert len(now.exchanges) == len(then.exchanges), now.name
        for was, sent in zip(then.exchanges, now.exchanges, strict=True):
            assert sent.method == was.method, now.name
            exchanges.match_text(was.target, sent.target, ids, f"{now.name}: target")
            if was.request.is_json():
                exchanges.match(was.request.json(), sent.request.json(), ids, f"{now.name}")
            exchanges.match_response(was, sent.status, sent.response, ids)
