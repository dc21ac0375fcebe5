{% set L = cookiecutter.logging %}
{% set T = cookiecutter.tracing %}
{% set M = cookiecutter.metrics %}
import json
{% if not L %}
import logging
{% endif %}
from http import HTTPStatus
from urllib.parse import unquote

{% if L or T or M %}
from aws_lambda_powertools import {{ ["Logger" if L else "", "Metrics" if M else "", "Tracer" if T else ""] | select | join(", ") }}
{% endif %}
from aws_lambda_powertools.event_handler import (
    APIGatewayRestResolver,
    Response,
    content_types,
)
from aws_lambda_powertools.event_handler.exceptions import NotFoundError, ServiceError
{% if L %}
from aws_lambda_powertools.logging import correlation_paths
{% endif %}
{% if M %}
from aws_lambda_powertools.metrics import MetricUnit
{% endif %}
from aws_lambda_powertools.utilities.typing import LambdaContext

{% if L or T or M %}
# Settings come from the POWERTOOLS_* environment variables in template.yaml.
{% endif %}
{% if L %}
logger = Logger()
{% else %}
logger = logging.getLogger(__name__)
{% endif %}
{% if T %}
# patch_modules: the libraries whose calls X-Ray records. None yet: this code
# calls none, and each one named is imported at cold start (see the README).
tracer = Tracer(patch_modules=())
{% endif %}
{% if M %}
metrics = Metrics()
{% endif %}


# Escaped inside JSON strings: the same data for every JSON client, but never
# readable as HTML, even by a browser that ignores the content type.
MARKUP_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def json_without_markup(data: object) -> str:
    return json.dumps(data, separators=(",", ":")).translate(MARKUP_ESCAPES)


app = APIGatewayRestResolver(serializer=json_without_markup)


def greeting(name: str) -> dict[str, str]:
    """The body both routes return: the place for your business logic."""
    return {"message": f"hello {name}!"}
{% if L or T or M %}


def observe(route: str) -> None:
    """What each route records{{ " in its own X-Ray subsegment" if T else "" }}."""
{% if T %}
    # Annotations are indexed and kept with the trace (30 days), searchable and
    # not deletable: annotate what is not personal data, like the route (README).
    tracer.put_annotation(key="Route", value=route)
{% endif %}
{% if L %}
    logger.info("Greeting", extra={"route": route})
{% endif %}
{% if M %}
    # One dimension set per invocation: every metric flushed with this one
    # (UnhandledErrors too, should the route then fail) carries the route.
    metrics.add_dimension(name="route", value=route)
    metrics.add_metric(name="Greetings", unit=MetricUnit.Count, value=1)
{% endif %}
{% endif %}


@app.get("/hello")
{% if T %}
@tracer.capture_method(capture_response=False)
{% endif %}
def hello() -> dict[str, str]:
{% if L or T or M %}
    observe("/hello")
{% endif %}
    return greeting("unknown")


@app.get("/hello/<name>")
{% if T %}
@tracer.capture_method(capture_response=False)
{% endif %}
def hello_name(name: str) -> dict[str, str]:
    # API Gateway REST passes the path still percent-encoded: decode it as a URL
    # path is decoded ("+" stays a plus, invalid UTF-8 becomes U+FFFD).
    name = unquote(name)
{% if L or T or M %}
    observe("/hello/<name>")
{% endif %}
    return greeting(name)


@app.not_found
def not_found(error: NotFoundError) -> Response:
    # Registered explicitly: the catch-all handler below would otherwise turn
    # every unknown route into a 500.
{% if M %}
    metrics.add_metric(name="NotFound", unit=MetricUnit.Count, value=1)
{% endif %}
    return json_response(HTTPStatus.NOT_FOUND, "Not found")


@app.exception_handler(ServiceError)
def http_error(error: ServiceError) -> Response:
    # Powertools' HTTP errors (raise BadRequestError("...") in a route) keep their
    # status and message; the catch-all below would otherwise make them 500s.
    return json_response(error.status_code, error.msg)


@app.exception_handler(Exception)
def unexpected_error(error: Exception) -> Response:
    # Log the exception with its traceback; the client gets no internals.
    logger.exception("Unhandled error")
{% if M %}
    metrics.add_metric(name="UnhandledErrors", unit=MetricUnit.Count, value=1)
{% endif %}
    return json_response(HTTPStatus.INTERNAL_SERVER_ERROR, "Internal server error")


def json_response(status: int, message: str) -> Response:
    return Response(
        status_code=status,
        content_type=content_types.APPLICATION_JSON,
        body={"message": message},
    )


{% if L %}
@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST)
{% endif %}
{% if T %}
# No response bodies copied into X-Ray metadata (here or on the routes): they
# cost time on every invoke and may carry personal data.
@tracer.capture_lambda_handler(capture_response=False)
{% endif %}
{% if M %}
@metrics.log_metrics(capture_cold_start_metric=True)
{% endif %}
def lambda_handler(event: dict, context: LambdaContext) -> dict:
    try:
        response = app.resolve(event, context)
    except Exception:
        # Not an API Gateway REST request (no httpMethod or path, not even a dict):
        # nothing can be routed, but the caller still gets JSON, never a raw error.
        logger.exception("Malformed event")
{% if M %}
        metrics.add_metric(name="MalformedEvents", unit=MetricUnit.Count, value=1)
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
