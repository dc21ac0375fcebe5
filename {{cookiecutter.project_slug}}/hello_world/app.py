{% set L = cookiecutter.logging %}
{% set T = cookiecutter.tracing %}
{% set M = cookiecutter.metrics %}
{% if not L %}
import logging
{% endif %}
from urllib.parse import unquote

{% if L or T or M %}
from aws_lambda_powertools import {{ ["Logger" if L else "", "Metrics" if M else "", "Tracer" if T else ""] | select | join(", ") }}
{% endif %}
{% if L %}
from aws_lambda_powertools.logging import correlation_paths
{% endif %}
{% if M %}
from aws_lambda_powertools.metrics import MetricUnit
{% endif %}
from aws_lambda_powertools.utilities.typing import LambdaContext

from json_resolver import JsonResolver, Message

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
# calls none, and each one named is imported at cold start (docs/observe.md).
tracer = Tracer(patch_modules=())
{% endif %}
{% if M %}
metrics = Metrics()
{% endif %}
# Routes answer JSON; unknown routes and errors too (json_resolver.py). A route's
# return type is its body in openapi.json, the API's contract (docs/api.md).
app = JsonResolver(logger{{ ", metrics" if M else "" }})


def greeting(name: str) -> Message:
    """The body both routes return: the place for your business logic."""
    return {"message": f"hello {name}!"}
{% if L or T or M %}


def observe(route: str) -> None:
    """What each route records{{ " in its own X-Ray subsegment" if T else "" }}."""
{% if T %}
    # Annotations are indexed and kept with the trace (30 days), searchable and not
    # deletable: annotate what is not personal data, like the route (docs/observe.md).
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
def hello() -> Message:
{% if L or T or M %}
    observe("/hello")
{% endif %}
    return greeting("unknown")


@app.get("/hello/<name>")
{% if T %}
@tracer.capture_method(capture_response=False)
{% endif %}
def hello_name(name: str) -> Message:
    # API Gateway REST passes the path still percent-encoded: decode it as a URL
    # path is decoded ("+" stays a plus, invalid UTF-8 becomes U+FFFD).
    name = unquote(name)
{% if L or T or M %}
    observe("/hello/<name>")
{% endif %}
    return greeting(name)


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
    return app.resolve(event, context)
