{% set L = cookiecutter.logging %}
{% set M = cookiecutter.metrics %}
"""Every answer is JSON, errors included: the resolver's serializer and error
handlers, the 400 for an event that is not an API Gateway request, and the 500
that the API's OpenAPI document (openapi.json) gives every route."""

import inspect
import json
{% if not L %}
import logging
{% endif %}
from collections.abc import Callable, Mapping
from http import HTTPStatus
from typing import Any

{% if L or M %}
from aws_lambda_powertools import {{ ["Logger" if L else "", "Metrics" if M else ""] | select | join(", ") }}
{% endif %}
from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
{% if M %}
from aws_lambda_powertools.metrics import MetricUnit
{% endif %}
from aws_lambda_powertools.utilities.typing import LambdaContext

# Not typing's: pydantic, which writes openapi.json, refuses it before Python 3.12.
# typing_extensions comes with Powertools, which imports it already.
from typing_extensions import TypedDict


class Message(TypedDict):
    """A JSON object with a message: the body of every answer of this API."""

    message: str


# In openapi.json: what unexpected_error answers, on any route.
SERVER_ERROR = {
    "description": "An unexpected error: logged with its traceback, never returned",
    "content": {
        "application/json": {"model": Message},
    },
}

# Escaped inside JSON strings: the same data for every JSON client, but never
# readable as HTML, even by a browser that ignores the content type.
MARKUP_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_without_markup(data: object) -> str:
    return json.dumps(data, separators=(",", ":")).translate(MARKUP_ESCAPES)


def json_response(status: int, message: str | dict) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message},
    )


class JsonResolver(APIGatewayRestResolver):
    """APIGatewayRestResolver whose every answer is JSON: a 404 for unknown routes,
    Powertools' HTTP errors with their status, a logged 500 for anything else, a
    400 for what is not an API Gateway REST request."""

    # app.get and the other route decorators pass every argument by position.
    ROUTE = inspect.signature(APIGatewayRestResolver.route)

    def __init__(self, logger: {{ "Logger" if L else "logging.Logger" }}{{ ", metrics: Metrics" if M else "" }}) -> None:
        super().__init__(serializer=json_without_markup)
        self.logger = logger
{% if M %}
        self.metrics = metrics
{% endif %}
        # The not-found handler is registered explicitly: the catch-all handler
        # would otherwise turn every unknown route into a 500; so are Powertools'
        # HTTP errors (raise BadRequestError("...") in a route).
        self.not_found(self.not_found_error)
        self.exception_handler(ServiceError)(self.http_error)
        self.exception_handler(Exception)(self.unexpected_error)

    def route(self, *args: Any, **kwargs: Any) -> Callable[..., Any]:
        """A route whose OpenAPI responses are its success (the body its return type
        describes) and SERVER_ERROR, then any `responses=` given to it."""
        bound = self.ROUTE.bind(self, *args, **kwargs)
        bound.apply_defaults()
        given = {k: v for k, v in bound.arguments.items() if k != "self"}
        success = {"description": given["response_description"]}
        given["responses"] = {
            given["status_code"]: success,
            HTTPStatus.INTERNAL_SERVER_ERROR.value: SERVER_ERROR,
            **(given["responses"] or {}),
        }
        return super().route(**given)

    def not_found_error(self, error: NotFoundError) -> Response:
{% if M %}
        self.metrics.add_metric(name="NotFound", unit=MetricUnit.Count, value=1)
{% endif %}
        return json_response(HTTPStatus.NOT_FOUND, "Not found")

    def http_error(self, error: ServiceError) -> Response:
        return json_response(error.status_code, error.msg)

    def unexpected_error(self, error: Exception) -> Response:
        # Log the exception with its traceback; the client gets no internals.
        self.logger.exception("Unhandled error")
{% if M %}
        self.metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
{% endif %}
        return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")

    def resolve(
        self, event: Mapping[str, Any], context: LambdaContext
    ) -> dict[str, Any]:
        response: dict[str, Any]
        try:
            response = super().resolve(event, context)
        except Exception:
            # Not an API Gateway REST request (no httpMethod or path, not even a
            # dict): nothing can be routed, but the caller still gets JSON.
            self.logger.exception("Malformed event")
{% if M %}
            self.metrics.add_metric(
                name="MalformedEvents", unit=MetricUnit.Count, value=1
            )
{% endif %}
            response = {
                "statusCode": HTTPStatus.BAD_REQUEST.value,
                "multiValueHeaders": {"Content-Type": [content_types.APPLICATION_JSON]},
                "body": json_without_markup({"message": "Bad request"}),
                "isBase64Encoded": False,
            }
        # Browsers must not guess a type other than JSON from a body.
        response["multiValueHeaders"]["X-Content-Type-Options"] = ["nosniff"]
        return response
