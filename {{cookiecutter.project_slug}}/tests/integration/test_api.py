{% from "stack.jinja" import stack_name with context %}
"""Calls the deployed API; after `sam deploy`, run with the stack's name:

AWS_SAM_STACK_NAME={{ stack_name }} pytest tests/integration
"""

import json
import os
import urllib.error
import urllib.request

import pytest

STACK_NAME = os.environ.get("AWS_SAM_STACK_NAME")
# Or the API's base URL itself, if known: no AWS credentials are then needed.
API_URL = os.environ.get("API_URL")

pytestmark = pytest.mark.skipif(
    not (STACK_NAME or API_URL),
    reason="no deployed API: set AWS_SAM_STACK_NAME (or API_URL) to run these tests",
)


@pytest.fixture(scope="module")
def api_url() -> str:
    if API_URL:
        return API_URL
    import boto3

    stack = boto3.client("cloudformation").describe_stacks(StackName=STACK_NAME)
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stack["Stacks"][0]["Outputs"]}
    return outputs["ApiUrl"]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        return error.code, json.load(error)


def test_hello(api_url):
    assert get(f"{api_url}hello") == (200, {"message": "hello unknown!"})


def test_hello_name(api_url):
    assert get(f"{api_url}hello/world") == (200, {"message": "hello world!"})


def test_unknown_route_is_not_found(api_url):
    # API Gateway answers a path it does not declare itself: template.yaml's
    # GatewayResponses makes that the same JSON 404 the function gives.
    assert get(f"{api_url}goodbye") == (404, {"message": "Not found"})
