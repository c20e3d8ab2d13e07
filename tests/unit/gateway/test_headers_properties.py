"""Properties of Fn's header rewriting: what crosses is what Fn lets cross, the
client's headers come back as they went, and nothing the function receives can
break its request line."""

from hypothesis import example, given, settings
from hypothesis import strategies as st

from gateway.headers import (
    HTTP_PREFIX,
    invoke_request,
    strip_hop_by_hop,
    trigger_request,
    trigger_response,
)

HOP_BY_HOP = {
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
# Header names and values as an ASGI server hands them over: tokens, and
# latin-1 text without CR, LF or NUL.
names = st.sampled_from(
    [*sorted(HOP_BY_HOP), "Content-Type", "X-Api-Key", "fn-call-id", "Fn-Http-Status"]
) | st.from_regex(r"[A-Za-z0-9!#$%&'*+.^_`|~-]{1,12}", fullmatch=True)
values = st.text(
    st.characters(min_codepoint=0x20, max_codepoint=0xFF, exclude_characters="\x7f"), max_size=20
)
headers = st.lists(st.tuples(names, values), max_size=8)
# The URL as Starlette gives it: its path percent-decoded, so any character at all.
urls = st.builds("http://127.0.0.1:8080/t/app/{}?x={}".format, st.text(), values)


def canonical(name):
    return "-".join(part[:1].upper() + part[1:].lower() for part in name.split("-"))


@settings(max_examples=300)
@given(headers=headers, method=st.sampled_from(["GET", "POST", "PATCH"]), url=urls)
def test_a_client_header_crosses_a_trigger_both_ways_unchanged(headers, method, url):
    forwarded = trigger_request(headers, method, url)
    assert not {name.lower() for name, _ in forwarded} & HOP_BY_HOP
    # The function echoes every Fn-Http-H-* header it got: the client gets its own back.
    echoed = [(name, value) for name, value in forwarded if name.startswith(HTTP_PREFIX)]
    echoed += [(name, value) for name, value in forwarded if name == "Content-Type"]
    _, answered = trigger_response(echoed)
    sent = [
        ("Content-Type" if name.lower() == "content-type" else canonical(name), value)
        for name, value in strip_hop_by_hop(headers)
    ]
    assert sorted(answered) == sorted(sent)


@settings(max_examples=300)
@given(headers=headers, method=st.sampled_from(["GET", "POST"]), url=urls)
@example(headers=[], method="GET", url="http://127.0.0.1:8080/t/app/\u20ac\r?x=1")
def test_what_a_trigger_forwards_fits_an_http_request(headers, method, url):
    for name, value in trigger_request(headers, method, url):
        # The instance's connection writes headers as latin-1 lines.
        value.encode("latin-1")
        assert not set(value) & {"\r", "\n", "\x00"}, (name, value)


@settings(max_examples=300)
@given(headers=headers)
def test_a_function_answer_always_has_a_final_status_and_no_hop_by_hop_header(headers):
    status, answered = trigger_response(headers)
    assert 200 <= status <= 599
    assert not {name.lower() for name, _ in answered} & HOP_BY_HOP


@settings(max_examples=200)
@given(status=st.text(max_size=6) | st.integers(-1000, 1000).map(str))
def test_any_status_a_function_sets_becomes_a_final_one(status):
    answered, _ = trigger_response([("Fn-Http-Status", status)])
    assert 200 <= answered <= 599


@settings(max_examples=200)
@given(headers=headers)
def test_an_invoke_never_passes_the_platform_or_hop_by_hop_headers_on(headers):
    passed = {name.lower() for name, _ in invoke_request(headers)}
    assert not passed & (HOP_BY_HOP | {"fn-call-id", "fn-deadline"})
