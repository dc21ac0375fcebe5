"""The built function run the way Lambda runs it: the `sam build` output served by
awslambdaric, the runtime interface client of Lambda's managed Python runtimes,
against stand-ins of the Lambda Runtime API and the X-Ray daemon
(support/runtime_api.py), with the environment, sys.path and read-only task
directory Lambda gives (support/lambda_runtime.py).

One runtime-client process per combination serves every invocation (as one
execution environment does); each test below reads one aspect of that run.
Over 500 lines: that run (the module-scoped fixture lambda_runs) serves every test
here; split into modules, each would run every combination again.

What counts as the function's output: everything the runtime-client process
writes to stdout and stderr, and every record it logs through the log channel
Lambda gives it (`_LAMBDA_TELEMETRY_LOG_FD`: the standard library's log records,
the app's `logging` logger when Logger is not selected, one framed record each),
from its start until it is stopped. That is what Lambda sends to the function's
log group (its own START/END/REPORT lines come from the platform, not from this
process). awslambdaric 4.2.2 writes nothing of its own on these paths: it logs
only for init failures, unhandled handler errors and preview runtimes.
"""

from __future__ import annotations

import ast
import json
import platform
import re
import shutil
import sys
import uuid
from collections.abc import Iterator
from urllib.parse import unquote

import pytest

from matrix import DEFAULTS, combination_id, supported
from support.documents import load_cfn
from support.lambda_runtime import (
    BEARER_TOKEN,
    FAIL_HEADER,
    FUNCTION_NAME,
    HOST_ARCHITECTURE,
    SECRETS,
    SESSION_COOKIE,
    LambdaRun,
    emf,
    json_object,
    logger_records,
    serve,
)
from support.runtime_api import Case, Invocation, x_ray_documents
from support.sam import api_event, sam_event
from support.template import PROJECT_TEMPLATE

pytestmark = pytest.mark.slow


def selections() -> list[dict]:
    """All three observability options with pip and with the layer, none, each
    alone, the makefile build and SnapStart; the defaults for everything else.
    The ones test_sam_cli.py builds too are built once per session."""
    host = {**DEFAULTS, "architecture": HOST_ARCHITECTURE or DEFAULTS["architecture"]}
    options = ("logging", "tracing", "metrics")
    everything = {option: True for option in options}
    # Nothing selected, monitoring included (as test_sam_cli builds it).
    nothing = {**{option: False for option in options}, "monitoring": False}
    chosen = [
        {**host, **everything, "powertools_source": "pip"},
        {**host, **everything, "powertools_source": "layer"},
        {**host, **nothing},
        *({**host, **nothing, option: True} for option in options),
        # The build that ships bytecode and leaves the SDK to the runtime.
        {**host, "build_method": "makefile", "powertools_source": "pip"},
        {**host, "snapstart": True},
    ]
    assert all(supported(answers) for answers in chosen)
    return list({combination_id(a): a for a in chosen}.values())


SELECTIONS = [pytest.param(a, id=combination_id(a)) for a in selections()]
WITH_LOGGING = [p for p in SELECTIONS if p.values[0]["logging"]]


def from_a_client(event: dict) -> dict:
    """The event as API Gateway sends it for one request of a signed-in client:
    its own request id, an Authorization header and a session cookie."""
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    for name, value in (
        ("Authorization", f"Bearer {BEARER_TOKEN}"),
        ("Cookie", f"session={SESSION_COOKIE}; theme=dark"),
    ):
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


def made_to_fail(event: dict) -> dict:
    """The request, carrying the header that makes its route raise (BOOTSTRAP)."""
    event["headers"][FAIL_HEADER] = "1"
    event["multiValueHeaders"][FAIL_HEADER] = ["1"]
    return event


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    """Both routes (the name percent-encoded, as API Gateway REST delivers it),
    an unknown route, an event that is not an API Gateway request, and each route
    made to fail."""
    encoded = "Jos%C3%A9%20Smith"
    return [
        Case(
            "hello",
            from_a_client(api_event("/hello", resource="/hello")),
            200,
            "hello unknown!",
            "Greetings",
            route="/hello",
            subsegment="## app.hello",
        ),
        Case(
            "hello_name",
            from_a_client(
                api_event(
                    f"/hello/{encoded}",
                    resource="/hello/{name}",
                    path_parameters={"name": encoded},
                )
            ),
            200,
            "hello José Smith!",
            "Greetings",
            route="/hello/<name>",
            subsegment="## app.hello_name",
        ),
        Case(
            "unknown",
            from_a_client(api_event("/goodbye")),
            404,
            "Not found",
            "NotFound",
        ),
        Case(
            "not_api",
            sam_event("cloudwatch", "scheduled-event"),
            400,
            "Bad request",
            "MalformedEvents",
        ),
        Case(
            "hello_fails",
            made_to_fail(from_a_client(api_event("/hello", resource="/hello"))),
            500,
            "Internal server error",
            "UnhandledErrors",
            route="/hello",
            subsegment="## app.hello",
        ),
        Case(
            "hello_name_fails",
            made_to_fail(
                from_a_client(
                    api_event(
                        "/hello/Ann",
                        resource="/hello/{name}",
                        path_parameters={"name": "Ann"},
                    )
                )
            ),
            500,
            "Internal server error",
            "UnhandledErrors",
            route="/hello/<name>",
            subsegment="## app.hello_name",
        ),
    ]


@pytest.fixture(scope="module")
def lambda_runs(sam_builds, cases, tmp_path_factory):
    """serve(answers) once per combination for the module; a failure is kept and
    raised again for each test of that combination."""
    if sys.platform != "linux" or HOST_ARCHITECTURE is None:
        pytest.skip(
            f"Lambda's runtime client and built wheels are for Linux on x86_64 or "
            f"arm64, not {sys.platform} on {platform.machine()}"
        )
    runs: dict[str, LambdaRun | Exception] = {}

    def run_for(answers: dict) -> LambdaRun:
        if answers["build_method"] == "makefile" and shutil.which("make") is None:
            pytest.skip("sam build with build_method=makefile needs make (not on PATH)")
        key = combination_id(answers)
        if key not in runs:
            build = sam_builds(answers)
            try:
                runs[key] = serve(answers, build, cases, tmp_path_factory.mktemp(key))
            except Exception as error:  # kept for the other tests of this run
                runs[key] = error
        if isinstance(runs[key], Exception):
            raise runs[key]
        return runs[key]

    return run_for


# --------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("answers", SELECTIONS)
def test_runtime_client_initialises_once_then_serves_every_event(
    lambda_runs, cases, answers
):
    run = lambda_runs(answers)
    # SnapStart: init, then the snapshot (restore/next returns after a restore),
    # then invocations. Without it there is no restore phase.
    restore = ["restore"] if answers["snapstart"] else []
    assert run.calls == [*restore, *["next", "response"] * len(cases), "next"]
    assert run.bytecode_written == []


@pytest.mark.parametrize("answers", SELECTIONS)
def test_every_response(lambda_runs, answers):
    for invocation in lambda_runs(answers).invocations:
        case, payload = invocation.case, invocation.payload
        assert invocation.outcome == "response", (case.label, payload)
        assert payload["statusCode"] == case.status, case.label
        assert json.loads(payload["body"]) == {"message": case.message}, case.label
        assert payload["isBase64Encoded"] is False
        # REST API (payload v1): headers in multiValueHeaders.
        assert payload["multiValueHeaders"] == {
            "Content-Type": ["application/json"],
            "X-Content-Type-Options": ["nosniff"],
        }, case.label
        assert not payload.get("headers"), case.label


@pytest.mark.parametrize("answers", SELECTIONS)
def test_logger_records_carry_the_invocation(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["logging"]:
        assert logger_records(run.lines()) == []
        return

    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    assert logger_records(run.outside) == []
    for number, invocation in enumerate(run.invocations):
        case = invocation.case
        records = logger_records(invocation.lines)
        # Both routes log (the first invocation too: its cold_start is seen).
        assert records or not case.route, f"{case.label}: no Logger record"
        for record in records:
            assert record["service"] == service
            assert record["function_name"] == FUNCTION_NAME
            assert record["function_request_id"] == invocation.request_id
            assert record["cold_start"] is (number == 0), (case.label, record)
            assert record.get("correlation_id") == case.api_request_id, record
            # Lambda's trace of the invocation, traced or not (Lambda hands one
            # out either way).
            assert record["xray_trace_id"] == invocation.root, record


@pytest.mark.parametrize("answers", WITH_LOGGING)
def test_every_line_the_function_writes_is_json(lambda_runs, answers):
    run = lambda_runs(answers)
    assert [line for line in run.lines() if json_object(line) is None] == []


@pytest.mark.parametrize("answers", SELECTIONS)
def test_emf_metrics(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["metrics"]:
        assert emf(run.lines()) == []
        assert "CloudWatchMetrics" not in "\n".join(run.lines())
        return

    namespace = run.variables["POWERTOOLS_METRICS_NAMESPACE"]
    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    assert emf(run.outside) == []
    for record in emf(run.lines()):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == namespace, record
            assert {m["Name"] for m in directive["Metrics"]} <= set(record), record
            for dimensions in directive["Dimensions"]:
                assert set(dimensions) <= set(record), record
    cold_starts = [r for r in emf(run.lines()) if "ColdStart" in r]
    assert len(cold_starts) == 1, cold_starts
    assert cold_starts[0] in emf(run.invocations[0].lines)

    for invocation in run.invocations:
        case = invocation.case
        recorded = {
            metric["Name"]
            for record in emf(invocation.lines)
            for directive in record["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        }
        # A route records Greetings before it answers (or fails).
        expected = {case.metric, "Greetings"} if case.route else {case.metric}
        assert recorded - {"ColdStart"} == expected, (case.label, invocation.lines)
        greetings = [r for r in emf(invocation.lines) if "Greetings" in r]
        if case.route:
            assert [(g["route"], g["service"]) for g in greetings] == [
                (case.route, service)
            ], case.label
            assert greetings[0]["Greetings"] == [1.0]
        else:
            assert greetings == [], case.label


@pytest.mark.parametrize("answers", SELECTIONS)
def test_x_ray_subsegments(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["tracing"]:
        assert run.datagrams == []
        return

    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    handler = "## " + run.handler.rsplit(".", 1)[1]
    documents = [x for d in run.datagrams for x in x_ray_documents(d)]
    assert len(documents) == sum(len(i.documents) for i in run.invocations)
    for number, invocation in enumerate(run.invocations):
        case = invocation.case
        assert all(d["type"] == "subsegment" for d in invocation.documents)
        (top,) = [d for d in invocation.documents if d["name"] == handler]
        # Under the segment Lambda made for this invocation (Parent).
        assert top["parent_id"] == invocation.parent
        assert top["annotations"]["Service"] == service
        assert top["annotations"]["ColdStart"] is (number == 0)
        # The README promises a subsegment per route, annotated with the route
        # only: the decoded name is request input, never indexed.
        routes = [d for d in invocation.documents if d is not top]
        if case.route:
            (route,) = routes
            assert route["name"] == case.subsegment, case.label
            assert route["parent_id"] == top["id"], case.label
            assert route["annotations"] == {"Route": case.route}, case.label
        else:
            assert routes == [], case.label


# What each record of an invocation may carry. A Logger record: what the generated
# unit tests declare (RECORD_KEYS in tests/unit/test_logging.py, read here: one
# declaration for both tiers). An EMF line: its dimensions and metrics. A trace's
# subsegment: its annotations.
LOGGER_TESTS = PROJECT_TEMPLATE / "tests" / "unit" / "test_logging.py"
(LOGGER_KEYS,) = [
    ast.literal_eval(node.value)
    for node in ast.parse(LOGGER_TESTS.read_text(encoding="utf-8")).body
    if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "RECORD_KEYS"
]
EMF_KEYS = {
    "_aws",
    "service",
    "route",
    "function_name",
    "ColdStart",
    "Greetings",
    "NotFound",
    "MalformedEvents",
    "UnhandledErrors",
}
ANNOTATIONS = {"ColdStart", "Service", "Route"}


def who_called(invocation: Invocation) -> list[str]:
    """What identifies an invocation's caller and request: the name in its path
    (as sent and decoded), API Gateway's request id, Lambda's, its trace."""
    name = (invocation.case.event.get("pathParameters") or {}).get("name")
    found = [invocation.request_id, invocation.root, invocation.case.api_request_id]
    if name:
        found += [name, unquote(name)]
    return [value for value in found if value]


@pytest.mark.parametrize("answers", SELECTIONS)
def test_no_invocation_carries_an_earlier_callers_data(lambda_runs, answers):
    """One execution environment serves invocation after invocation, module state
    kept: nothing one request adds to the logger, the metrics or the tracer may
    reach a later one's log records, EMF lines or trace."""
    invocations = lambda_runs(answers).invocations
    # A named caller is followed by others (not vacuous).
    assert any(i.case.event.get("pathParameters") for i in invocations[:-1])
    earlier: list[str] = []
    for invocation in invocations:
        label = invocation.case.label
        records = logger_records(invocation.lines)
        metrics = emf(invocation.lines)
        for record in records:
            assert set(record) <= LOGGER_KEYS, (label, set(record) - LOGGER_KEYS)
        for record in metrics:
            assert set(record) <= EMF_KEYS, (label, set(record) - EMF_KEYS)
        for document in invocation.documents:
            annotations = set(document.get("annotations", {}))
            assert annotations <= ANNOTATIONS, (label, annotations - ANNOTATIONS)
        written = "\n".join(
            [
                *invocation.lines,
                json.dumps([records, metrics], ensure_ascii=False),
                json.dumps(invocation.documents, ensure_ascii=False),
            ]
        )
        assert [value for value in earlier if value in written] == [], label
        earlier += who_called(invocation)


@pytest.mark.parametrize("answers", SELECTIONS)
def test_no_secret_in_any_output(lambda_runs, cases, answers):
    run = lambda_runs(answers)
    sent = json.dumps([case.event for case in cases])
    assert BEARER_TOKEN in sent and SESSION_COOKIE in sent  # not vacuous
    outputs = {
        "stdout": run.stdout,
        "stderr": run.stderr,
        "log channel": "\n".join(run.telemetry),
        "X-Ray": b"\n".join(run.datagrams).decode(),
        "responses": json.dumps([i.payload for i in run.invocations]),
    }
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret in {name}"


# --------------------------------------------------------------------------
# What the monitoring option's alarms and dashboard read (test_monitoring.py
# checks the rest of it): metrics and log lines the function really wrote.

INSIGHTS = re.compile(
    r"SELECT SUM\((?P<metric>\w+)\) FROM (?:\"(?P<namespace>[^\"]+)\""
    r"|SCHEMA\(\"(?P<schema_namespace>[^\"]+)\"(?P<schema>(?:, \w+)*)\))"
    r"(?P<where>(?: (?:WHERE|AND) \w+ = '[^']*')*)(?: GROUP BY (?P<group>\w+))?"
)


def selects(query: str, namespace: str, metric: str, dimensions: dict) -> bool:
    """Whether a Metrics Insights query (of the forms the template uses) reads this
    metric: FROM a namespace reads every dimension set, FROM SCHEMA(...) only the
    set it lists; WHERE keeps the sets with these values; GROUP BY needs the key."""
    parsed = INSIGHTS.fullmatch(query.strip())
    assert parsed, f"not a query this test reads: {query}"
    if parsed["metric"] != metric:
        return False
    if (parsed["namespace"] or parsed["schema_namespace"]) != namespace:
        return False
    if parsed["schema_namespace"]:
        listed = {d.strip() for d in parsed["schema"].split(",") if d.strip()}
        if listed != set(dimensions):
            return False
    for key, value in re.findall(r"(\w+) = '([^']*)'", parsed["where"]):
        if dimensions.get(key) != value:
            return False
    return parsed["group"] is None or parsed["group"] in dimensions


def insights_queries(node) -> Iterator[str]:
    """The Metrics Insights queries of a dashboard's body (its YAML structure)."""
    if isinstance(node, dict):
        if "expression" in node:
            yield node["expression"]
        for value in node.values():
            yield from insights_queries(value)
    elif isinstance(node, list):
        for item in node:
            yield from insights_queries(item)


def emitted_metrics(lines: list[str]) -> list[tuple[str, str, dict]]:
    """(namespace, metric, {dimension: value}) for each metric of each EMF line,
    once per dimension set it is published with."""
    found = []
    for record in emf(lines):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    values = {d: record[d] for d in dimensions}
                    found.append((directive["Namespace"], metric["Name"], values))
    return found


@pytest.mark.parametrize("answers", SELECTIONS)
def test_monitoring_reads_what_the_function_emits(
    lambda_runs, sam_builds, cases, answers
):
    run = lambda_runs(answers)
    template_path = sam_builds(answers).parents[2] / "template.yaml"
    resources = load_cfn(template_path)["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    queries = [
        metric["Expression"]
        for alarm in alarms
        for metric in alarm["Properties"].get("Metrics", [])
    ]
    emitted = emitted_metrics(run.lines())
    unhandled = [e for e in emitted if e[1] == "UnhandledErrors"]
    # The failing routes recorded it (metrics on), or nothing did (metrics off).
    failing = [c for c in cases if c.metric == "UnhandledErrors"]
    assert len(unhandled) == (len(failing) if answers["metrics"] else 0)
    if not (answers["monitoring"] and answers["metrics"]):
        assert queries == []
        return

    # One alarm on the function's own metric, and it reads every dimension set the
    # function published UnhandledErrors with (each route's) -- and nothing else.
    (query,) = queries
    for namespace, metric, dimensions in unhandled:
        assert selects(query, namespace, metric, dimensions), (query, dimensions)
        other = {**dimensions, "service": dimensions["service"] + "-other"}
        assert not selects(query, namespace, metric, other)
    assert {tuple(sorted(d)) for _, _, d in unhandled} == {("route", "service")}

    # Every query of the dashboard reads a metric the function emitted.
    (dashboard,) = [
        r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    expressions = list(insights_queries(dashboard["Properties"]["DashboardBody"]))
    assert len(expressions) == 5
    for expression in expressions:
        assert any(selects(expression, *e) for e in emitted), expression

    # The saved query "errors" finds each failed request's ERROR line, with its
    # correlation id (the API Gateway request id the client can quote).
    if answers["logging"]:
        (errors,) = [
            r["Properties"]["QueryString"]
            for r in resources.values()
            if r["Type"] == "AWS::Logs::QueryDefinition"
            and r["Properties"]["Name"]["Fn::Sub"].endswith("/errors")
        ]
        assert 'filter level = "ERROR"' in errors and "correlation_id" in errors
        for invocation in run.invocations:
            if invocation.case in failing:
                records = logger_records(invocation.lines)
                assert [
                    r["correlation_id"] for r in records if r["level"] == "ERROR"
                ] == [invocation.case.api_request_id]
