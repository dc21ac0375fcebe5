"""The API's behaviour: routes, bodies and error responses."""

from urllib.parse import quote

import pytest
from aws_lambda_powertools.event_handler.exceptions import BadRequestError
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import app

from .conftest import (
    FakeLambdaContext,
    call,
    event_for_name,
    event_for_path,
    load_event,
)


def test_hello_greets_unknown(lambda_context):
    assert call(load_event("hello"), lambda_context) == (
        200,
        {"message": "hello unknown!"},
    )


def test_hello_name_greets_by_name(lambda_context):
    assert call(load_event("hello_name"), lambda_context) == (
        200,
        {"message": "hello world!"},
    )


def test_a_percent_encoded_name_is_greeted_decoded(lambda_context):
    # API Gateway passes the path as the client sent it: /hello/Jos%C3%A9%20Smith.
    assert call(load_event("hello_encoded_name"), lambda_context) == (
        200,
        {"message": "hello Jos\u00e9 Smith!"},
    )


@pytest.mark.parametrize("path", ["/", "/hello/world/again", "/goodbye"])
def test_unknown_route_is_404_json(lambda_context, path):
    assert call(event_for_path(path), lambda_context) == (404, {"message": "Not found"})


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_unknown_method_on_a_known_route_is_404_json(lambda_context, method):
    # Only GET is routed. Deployed, API Gateway answers other methods itself,
    # with the same JSON 404 (GatewayResponses in template.yaml).
    event = load_event("hello_name")
    event["httpMethod"] = method
    event["requestContext"]["httpMethod"] = method
    assert call(event, lambda_context) == (404, {"message": "Not found"})


def without(key: str) -> dict:
    event = load_event("hello_name")
    del event[key]
    return event


@pytest.mark.parametrize(
    "event",
    [
        pytest.param(without("httpMethod"), id="no-httpMethod"),
        pytest.param(without("path"), id="no-path"),
        pytest.param({**load_event("hello_name"), "path": None}, id="null-path"),
        pytest.param({}, id="empty"),
        pytest.param({"Records": [{"eventSource": "aws:s3"}]}, id="s3-event"),
        pytest.param([1, 2], id="list"),
        pytest.param("hello", id="string"),
        pytest.param(None, id="null"),
    ],
)
def test_malformed_event_is_400_json(lambda_context, event):
    assert call(event, lambda_context) == (400, {"message": "Bad request"})


def test_missing_request_context_is_still_routed(lambda_context):
    assert call(without("requestContext"), lambda_context) == (
        200,
        {"message": "hello world!"},
    )


@pytest.mark.parametrize(
    ("segment", "name"),
    [
        ("John%20Smith", "John Smith"),
        ("a+b", "a+b"),  # a plus sign in a path is a plus, not a space
        ("%", "%"),  # not an escape: kept
        ("%zz", "%zz"),
        ("%E0%A4%A", "\ufffd%A"),  # truncated UTF-8, then an incomplete escape
        ("%FF", "\ufffd"),  # not UTF-8 at all
        ("%2F", "/"),  # an encoded slash belongs to the name
        ("%2541", "%41"),  # decoded once, never twice
        ("%3Cscript%3E", "<script>"),
        ("<img src=x onerror=alert(1)>", "<img src=x onerror=alert(1)>"),
        ("a&b", "a&b"),
        pytest.param("x" * 5000, "x" * 5000, id="5000-characters"),
    ],
)
def test_names_are_decoded_as_a_url_path_is(lambda_context, segment, name):
    assert call(event_for_name(segment), lambda_context) == (
        200,
        {"message": f"hello {name}!"},
    )


def test_markup_in_a_name_is_escaped_in_the_body(lambda_context):
    for segment in ("<b>&", "%3Cb%3E%26"):
        response = app.lambda_handler(event_for_name(segment), lambda_context)
        assert response["body"] == '{"message":"hello \\u003cb\\u003e\\u0026!"}'


# A path segment as a client sends it: pieces of any text, percent-encoded as HTTP
# clients encode them (every byte but unreserved characters), and escapes that are
# malformed or easily mistaken, each with the text it must decode to. "~" ends an
# incomplete escape as any character that is not a hex digit would.
ENCODED_TEXT = st.text(st.characters(codec="utf-8"), min_size=1, max_size=40).map(
    lambda text: (quote(text, safe=""), text)
)
ODD_ESCAPES = st.sampled_from(
    [
        ("%~", "%~"),
        ("%zz", "%zz"),
        ("%E0%A4%A~", "\ufffd%A~"),
        ("%C3~", "\ufffd~"),
        ("%2F", "/"),
        ("%2541", "%41"),
        ("+", "+"),
    ]
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pieces=st.lists(ENCODED_TEXT | ODD_ESCAPES, min_size=1, max_size=8))
def test_any_name_a_client_sends_is_greeted_decoded(pieces):
    segment = "".join(sent for sent, _ in pieces)
    name = "".join(decoded for _, decoded in pieces)

    assert call(event_for_name(segment), FakeLambdaContext()) == (
        200,
        {"message": f"hello {name}!"},
    )


# Unencoded text in the path (what a hand-made event may hold): any text but
# control characters and "%", which the test above covers; plus short names made
# of URL and markup metacharacters.
RAW_NAMES = st.text(
    st.characters(codec="utf-8", exclude_categories=["Cc"], exclude_characters="%"),
    min_size=1,
    max_size=300,
) | st.text(alphabet="<>&\"'/\\{}$`;: +", min_size=1, max_size=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(name=RAW_NAMES)
def test_any_unencoded_name_gets_a_json_answer(name):
    status, body = call(event_for_name(name), FakeLambdaContext())

    # The resolver ignores trailing slashes: "/hello/a/" is "/hello/a".
    expected = name.rstrip("/") or "unknown"
    if status == 200:
        assert body == {"message": f"hello {expected}!"}
    else:
        # A name the route does not match: a "/" inside, a symbol such as an emoji.
        assert (status, body) == (404, {"message": "Not found"})


def test_unhandled_error_is_500_without_internals(monkeypatch, lambda_context):
    def fail(name):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(app, "greeting", fail)

    status, body = call(load_event("hello_name"), lambda_context)

    assert (status, body) == (500, {"message": "Internal server error"})


def test_powertools_http_errors_keep_their_status(monkeypatch, lambda_context):
    def reject(name):
        raise BadRequestError("name is too long")

    monkeypatch.setattr(app, "greeting", reject)

    status, body = call(load_event("hello_name"), lambda_context)

    assert (status, body) == (400, {"message": "name is too long"})


def test_unhandled_error_is_logged(monkeypatch, lambda_context, log_records):
    def fail(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "greeting", fail)

    call(load_event("hello_name"), lambda_context)

    (record,) = [r for r in log_records if r.getMessage() == "Unhandled error"]
    assert record.exc_info[0] is RuntimeError


def test_credentials_are_not_logged(lambda_context, log_records):
    event = load_event("hello")
    del event["httpMethod"]
    event["headers"]["Authorization"] = "Bearer secret-token-value"
    event["headers"]["Cookie"] = "session=secret-cookie-value"

    call(event, lambda_context)

    assert "Malformed event" in [r.getMessage() for r in log_records]
    logged = str([vars(r) for r in log_records])
    assert "secret-token-value" not in logged
    assert "secret-cookie-value" not in logged
