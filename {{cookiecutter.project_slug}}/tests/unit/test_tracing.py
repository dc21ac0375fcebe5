"""Tracing: X-Ray is off outside Lambda and the handler works the same."""

import app

from .conftest import call, load_event


def test_tracer_is_disabled_outside_lambda():
    # Powertools turns the Tracer off when LAMBDA_TASK_ROOT is not set.
    assert app.tracer.disabled


def test_handler_works_with_tracer_disabled(lambda_context):
    assert call(load_event("hello"), lambda_context)[0] == 200
    assert call(load_event("hello_name"), lambda_context)[0] == 200
