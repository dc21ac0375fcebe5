"""Custom metrics: one Embedded Metric Format (EMF) line per invocation on stdout."""

import json
import os

import pytest
from aws_lambda_powertools.metrics.provider import cold_start

import app

from .conftest import call, event_for_name, event_for_path, load_event

# Every answer records a metric, so Powertools never prints its plain-text
# "No application metrics to publish" warning between the JSON log lines.
pytestmark = pytest.mark.filterwarnings("error:No application metrics to publish")


@pytest.fixture(autouse=True)
def fresh_metrics():
    app.metrics.clear_metrics()
    yield
    app.metrics.clear_metrics()


def emf_records(captured_stdout: str) -> list[dict]:
    return [
        json.loads(line)
        for line in captured_stdout.splitlines()
        if line.startswith('{"_aws"')
    ]


def metric_names(record: dict) -> list[str]:
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    return [metric["Name"] for metric in directive["Metrics"]]


@pytest.mark.parametrize(
    ("event_name", "route"), [("hello", "/hello"), ("hello_name", "/hello/<name>")]
)
def test_each_route_counts_its_invocations(capsys, lambda_context, event_name, route):
    cold_start.is_cold_start = False

    call(load_event(event_name), lambda_context)

    (record,) = emf_records(capsys.readouterr().out)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Namespace"] == os.environ["POWERTOOLS_METRICS_NAMESPACE"]
    assert directive["Dimensions"] == [["route", "service"]]
    assert directive["Metrics"] == [{"Name": "Greetings", "Unit": "Count"}]
    assert record["service"] == os.environ["POWERTOOLS_SERVICE_NAME"]
    assert record["route"] == route
    assert record["Greetings"] == [1.0]


def test_a_warm_invocation_records_nothing_of_the_previous_caller(
    capsys, lambda_context
):
    """Dimensions and metadata added for one request must not reach the metrics
    of the next one that a warm environment serves."""
    cold_start.is_cold_start = False

    call(event_for_name("Zelda%20Quist"), lambda_context)
    call(load_event("hello"), lambda_context)

    first, second = emf_records(capsys.readouterr().out)
    assert first["route"] == "/hello/<name>"
    (directive,) = second["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["route", "service"]]
    assert set(second) == {"_aws", "route", "service", "Greetings"}
    assert second["route"] == "/hello"
    assert "Zelda" not in json.dumps(second)


def test_cold_start_is_counted_once(capsys, lambda_context):
    cold_start.reset_cold_start_flag()

    call(load_event("hello"), lambda_context)
    call(load_event("hello"), lambda_context)

    names = [metric_names(r) for r in emf_records(capsys.readouterr().out)]
    assert names == [["ColdStart"], ["Greetings"], ["Greetings"]]


def test_unhandled_errors_are_counted(monkeypatch, capsys, lambda_context):
    cold_start.is_cold_start = False

    def fail(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "greeting", fail)
    call(load_event("hello_name"), lambda_context)

    # The route had counted the request before the error: both share its dimension.
    (record,) = emf_records(capsys.readouterr().out)
    assert metric_names(record) == ["Greetings", "UnhandledErrors"]
    assert record["UnhandledErrors"] == [1.0]
    assert record["route"] == "/hello/<name>"


def post(event: dict) -> dict:
    event["httpMethod"] = "POST"
    return event


@pytest.mark.parametrize(
    ("event", "metric"),
    [
        pytest.param(event_for_path("/goodbye"), "NotFound", id="unknown-route"),
        pytest.param(post(load_event("hello")), "NotFound", id="unknown-method"),
        pytest.param({}, "MalformedEvents", id="empty-event"),
        pytest.param(None, "MalformedEvents", id="null-event"),
    ],
)
def test_error_answers_are_counted_without_a_route(
    capsys, lambda_context, event, metric
):
    cold_start.is_cold_start = False

    call(event, lambda_context)

    (record,) = emf_records(capsys.readouterr().out)
    (directive,) = record["_aws"]["CloudWatchMetrics"]
    assert directive["Dimensions"] == [["service"]]
    assert directive["Metrics"] == [{"Name": metric, "Unit": "Count"}]
    assert record[metric] == [1.0]
    assert "route" not in record
