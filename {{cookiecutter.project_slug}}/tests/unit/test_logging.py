"""Structured logging: one JSON object per line, with Lambda and request context."""

import io
import json
import logging
import os
from typing import Any

import pytest

import app

from .conftest import FakeLambdaContext, call, event_for_name, load_event


@pytest.fixture
def log_lines():
    """The JSON log records the function writes, parsed, one dict per line.

    Logger keeps the stream it saw at import time, so point its handler at a
    buffer instead of relying on capsys.
    """
    buffer = io.StringIO()
    handler = app.logger.registered_handler
    assert isinstance(handler, logging.StreamHandler)
    previous = handler.setStream(buffer)

    def read() -> list[dict[str, Any]]:
        return [json.loads(line) for line in buffer.getvalue().splitlines()]

    yield read
    handler.setStream(previous)


def test_log_lines_carry_service_and_request_context(
    monkeypatch, lambda_context, log_lines
):
    # Two invocations: the first is a cold start, the second is not.
    monkeypatch.setattr("aws_lambda_powertools.logging.logger.is_cold_start", True)
    event = load_event("hello_name")

    call(event, lambda_context)
    call(event, lambda_context)

    first, second = log_lines()
    for record in (first, second):
        assert record["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
        assert record["correlation_id"] == event["requestContext"]["requestId"]
        assert record["function_request_id"] == lambda_context.aws_request_id
        assert record["function_name"] == lambda_context.function_name
        assert record["level"] == "INFO"
        assert record["route"] == "/hello/<name>"
    assert (first["cold_start"], second["cold_start"]) == (True, False)


# What a record may carry: Powertools' own keys, Lambda's context, the correlation id
# and the route the app adds (a logged exception adds its own).
RECORD_KEYS = {
    "level",
    "location",
    "message",
    "timestamp",
    "service",
    "cold_start",
    "function_name",
    "function_memory_size",
    "function_arn",
    "function_request_id",
    "correlation_id",
    "xray_trace_id",
    "route",
    "exception",
    "exception_name",
    "stack_trace",
}


def test_a_warm_invocation_logs_nothing_of_the_previous_caller(log_lines):
    """Lambda reuses a warm environment, module state included: keys appended to
    the logger for one request must not reach the next caller's records."""
    named = event_for_name("Zelda%20Quist")
    named["requestContext"]["requestId"] = "first-api-request"
    call(named, FakeLambdaContext(aws_request_id="first-invocation"))
    hello = load_event("hello")
    hello["requestContext"]["requestId"] = "second-api-request"
    call(hello, FakeLambdaContext(aws_request_id="second-invocation"))

    first, second = log_lines()
    assert first["function_request_id"] == "first-invocation"
    assert second["function_request_id"] == "second-invocation"
    assert second["correlation_id"] == "second-api-request"
    for record in (first, second):
        assert set(record) <= RECORD_KEYS, set(record) - RECORD_KEYS
    earlier = ("Zelda", "first-api-request", "first-invocation")
    logged = json.dumps(second, ensure_ascii=False)
    assert [value for value in earlier if value in logged] == []


def with_credentials(event: dict) -> dict:
    event["headers"]["Authorization"] = "Bearer secret-token-value"
    event["multiValueHeaders"]["Authorization"] = ["Bearer secret-token-value"]
    event["headers"]["Cookie"] = "session=secret-cookie-value"
    event["multiValueHeaders"]["Cookie"] = ["session=secret-cookie-value"]
    return event


def test_events_and_credentials_are_not_logged(lambda_context, log_lines):
    call(with_credentials(load_event("hello")), lambda_context)
    # A malformed event is logged as an error: still without the event.
    malformed = with_credentials(load_event("hello"))
    del malformed["httpMethod"]
    call(malformed, lambda_context)

    logged = str(log_lines())
    assert "Malformed event" in logged
    assert "secret-token-value" not in logged
    assert "secret-cookie-value" not in logged


def test_unhandled_error_is_logged_with_traceback(
    monkeypatch, lambda_context, log_lines
):
    def fail(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "greeting", fail)

    call(load_event("hello_name"), lambda_context)

    (record,) = [line for line in log_lines() if line["level"] == "ERROR"]
    assert record["message"] == "Unhandled error"
    assert record["exception_name"] == "RuntimeError"
    assert "Traceback" in record["exception"]
