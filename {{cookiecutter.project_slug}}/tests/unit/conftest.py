{% set L = cookiecutter.logging %}
{% set M = cookiecutter.metrics %}
"""Fixtures for the unit tests: Lambda's environment, a fake context, real events."""

import json
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, cast

import pytest

if TYPE_CHECKING:  # for the type checker only: nothing here imports Powertools
    from aws_lambda_powertools.utilities.typing import LambdaContext

# The environment template.yaml gives the function; set before `app` is imported.
os.environ.setdefault("POWERTOOLS_SERVICE_NAME", {{ cookiecutter.service_name | tojson }})
{% if L %}
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "INFO")
os.environ.setdefault("POWERTOOLS_LOGGER_LOG_EVENT", "false")
{% endif %}
{% if M %}
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", {{ cookiecutter.metrics_namespace | tojson }})
{% endif %}

EVENTS = Path(__file__).resolve().parents[2] / "events"


@dataclass
class FakeLambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name: str = "HelloWorldFunction"
    function_version: str = "$LATEST"
    memory_limit_in_mb: int = 256
    invoked_function_arn: str = (
        "arn:aws:lambda:us-east-1:123456789012:function:HelloWorldFunction"
    )
    aws_request_id: str = "52fdfc07-2182-454f-963f-5f0f9a621d72"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


@pytest.fixture
def lambda_context() -> FakeLambdaContext:
    return FakeLambdaContext()


def load_event(name: str) -> dict[str, Any]:
    """An API Gateway REST event from events/ (made by `sam local generate-event`)."""
    return json.loads((EVENTS / f"{name}.json").read_text(encoding="utf-8"))


def event_for_path(path: str) -> dict[str, Any]:
    """The /hello/{name} event, sent to another path (for routes that do not exist)."""
    event = load_event("hello_name")
    event["path"] = path
    event["resource"] = "/{proxy+}"
    event["pathParameters"] = {"proxy": path.lstrip("/")}
    event["requestContext"]["path"] = f"/Prod{path}"
    event["requestContext"]["resourcePath"] = "/{proxy+}"
    return event


def event_for_name(name: str) -> dict[str, Any]:
    """The /hello/{name} event with another name in its path."""
    event = load_event("hello_name")
    event["path"] = f"/hello/{name}"
    event["pathParameters"] = {"name": name}
    event["requestContext"]["path"] = f"/Prod/hello/{name}"
    return event


def call(event: Any, context: FakeLambdaContext) -> tuple[int, Any]:
    """Invoke the handler; return the status code and the decoded JSON body."""
    import app

    # The fake has what Powertools reads of Lambda's context object.
    response = app.lambda_handler(event, cast("LambdaContext", context))
    # REST API (payload v1) responses carry multiValueHeaders.
    headers = response["multiValueHeaders"]
    assert headers["Content-Type"] == ["application/json"]
    assert headers["X-Content-Type-Options"] == ["nosniff"]
    # Markup characters in the body are JSON escapes, never literal.
    assert not set("<>&") & set(response["body"])
    return response["statusCode"], json.loads(response["body"])


class Records(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def log_records():
    """Every record the function's logger handles, at DEBUG, whichever logger it is:
    Powertools Logger (which does not propagate to pytest's caplog) or the standard
    library's."""
    import app

    handler = Records()
    # The standard library's logger, behind Powertools Logger or as it is.
    logger = logging.getLogger(app.logger.name)
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    yield handler.records
    logger.removeHandler(handler)
    logger.setLevel(level)
