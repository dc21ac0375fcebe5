# The Powertools quickstart tutorial's final app.py, verbatim: the benchmark's
# reference ("tutorial app"). Source: Powertools for AWS Lambda (Python) docs,
# "QuickStart", section "Custom Metrics" (MIT-0). Its defects are kept on
# purpose (README.md, Performance); only requirements.txt differs from the
# tutorial's.
from aws_lambda_powertools import Logger, Tracer, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
from aws_lambda_powertools.logging import correlation_paths

service = "APP"

logger = Logger(service=service)
tracer = Tracer()
metrics = Metrics(namespace="CustomMetrics", service=service)

app = ApiGatewayResolver()


@app.get("/hello/<name>")
@tracer.capture_method
def hello_name(name):
    tracer.put_annotation("User", name)
    logger.info(f"Request from {name} received")
    metrics.add_dimension(name="method", value="/hello/<name>")
    metrics.add_metric(name="AppMethodsInvocations", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": {"message": f"hello {name}!"}}


@app.get("/hello")
@tracer.capture_method
def hello():
    tracer.put_annotation("User", "unknown")
    logger.info(f"Request from unknown received")
    metrics.add_dimension(name="method", value="/hello/<name>")
    metrics.add_metric(name="AppMethodsInvocations", unit=MetricUnit.Count, value=1)
    return {"statusCode": 200, "body": {"message": "hello unknown!"}}


@logger.inject_lambda_context(correlation_id_path=correlation_paths.API_GATEWAY_REST, log_event=True)
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler
def lambda_handler(event, context):
    try:
        return app.resolve(event, context)
    except Exception as e:
        logger.exception(e)
        raise
