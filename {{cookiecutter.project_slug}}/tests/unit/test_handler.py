{% set L = cookiecutter.logging %}
"""The API's behaviour: routes, bodies and error responses."""

{% if not L %}
import logging

{% endif %}
import pytest

import app

from .conftest import call, event_for_path, load_event


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


@pytest.mark.parametrize("path", ["/", "/hello/world/again", "/goodbye"])
def test_unknown_route_is_404_json(lambda_context, path):
    assert call(event_for_path(path), lambda_context) == (404, {"message": "Not found"})


def test_unhandled_error_is_500_without_internals(monkeypatch, lambda_context):
    def fail(name):
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(app, "greeting", fail)

    status, body = call(load_event("hello_name"), lambda_context)

    assert (status, body) == (500, {"message": "Internal server error"})
{% if not L %}


def test_unhandled_error_is_logged(monkeypatch, lambda_context, caplog):
    def fail(name):
        raise RuntimeError("boom")

    monkeypatch.setattr(app, "greeting", fail)

    with caplog.at_level(logging.ERROR):
        call(load_event("hello_name"), lambda_context)

    (record,) = [r for r in caplog.records if r.name == app.logger.name]
    assert record.getMessage() == "Unhandled error"
    assert record.exc_info[0] is RuntimeError
{% endif %}
