from gateway.headers import invoke_request, trigger_request, trigger_response


def test_trigger_request_wraps_client_headers_as_fn_does():
    headers = [
        ("content-type", "application/json"),
        ("x-api-key", "k"),
        ("user-agent", "curl/8"),
        ("connection", "keep-alive"),
        ("content-length", "12"),
    ]
    assert trigger_request(headers, "POST", "http://h:8080/t/app/publish?x=1") == [
        ("Content-Type", "application/json"),
        ("Fn-Http-H-X-Api-Key", "k"),
        ("Fn-Http-H-User-Agent", "curl/8"),
        ("Fn-Http-Method", "POST"),
        ("Fn-Http-Request-Url", "http://h:8080/t/app/publish?x=1"),
        ("Fn-Intent", "httprequest"),
    ]


def test_trigger_response_unwraps_status_and_headers():
    status, headers = trigger_response(
        [
            ("content-type", "application/json"),
            ("fn-http-status", "202"),
            ("fn-http-h-retry-after", "1"),
            ("fn-http-h-location", "/x"),
            ("fn-fdk-version", "fdk-python/0.1.128"),
            ("fn-http-h-connection", "close"),
        ]
    )
    assert status == 202
    assert headers == [
        ("Content-Type", "application/json"),
        ("Retry-After", "1"),
        ("Location", "/x"),
    ]


def test_trigger_response_without_status_is_200_and_nonsense_status_is_ignored():
    assert trigger_response([])[0] == 200
    assert trigger_response([("fn-http-status", "999")])[0] == 200
    assert trigger_response([("fn-http-status", "101")])[0] == 200
    assert trigger_response([("fn-http-status", "204")])[0] == 204
    assert trigger_response([("fn-http-status", "abc")])[0] == 200


def test_invoke_passes_headers_but_not_hop_by_hop_ones():
    assert invoke_request([("fn-intent", "cloudevent"), ("transfer-encoding", "chunked")]) == [
        ("fn-intent", "cloudevent")
    ]


def test_invoke_drops_a_clients_own_call_id_and_deadline():
    assert invoke_request([("Fn-Call-Id", "mine"), ("fn-deadline", "never"), ("a", "b")]) == [
        ("a", "b")
    ]
