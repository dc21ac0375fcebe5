"""The real SAM CLI on rendered projects: `sam validate --lint`, `sam build`, then
the built function imported and invoked, from the build output, with events made
by `sam local generate-event` (no Docker: the handler runs in a subprocess of the
runtime's own interpreter with only the build output, and for the layer variant a
stand-in for the layer, on sys.path).

Validation: template.yaml does not depend on `ci` (asserted below), so each
distinct template is validated once: the defaults' and everything-off's with the
`sam` CLI itself, every other one in-process with the code the CLI runs for `--lint`
(cfnlint.api.lint; `--lint` runs nothing else: aws/aws-sam-cli
samcli/commands/validate/validate.py do_cli), without the process start (~4 s each),
and the options checked in SAM's transform of it (conftest's sam_transform, which
the security, monitoring and deploy role tests read too). Plain `sam validate`'s
own translation (SAM CLI's SamTemplateValidator, language extensions left to
CloudFormation as `sam validate` leaves them without --language-extensions) runs on
each distinct template of the quick subset: every value of every option.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest

from matrix import (
    DEFAULTS,
    POWERTOOLS_VERSION,
    build_matrix,
    combination_id,
    full_matrix,
    quick_matrix,
    values,
)
from support.documents import (
    FUNCTION,
    REGION,
    environment_variables,
    function_properties,
    parse_cfn,
)
from support.environments import require_interpreter
from support.layer import layer_stand_in
from support.processes import run, tool
from support.renders import baked_project, check_each
from support.sam import sam_environment

pytestmark = pytest.mark.slow


# --------------------------------------------------------------------------
# sam validate --lint


def template_key(answers: dict) -> str:
    """Answers that can change template.yaml: all but ci (see the test below)."""
    return combination_id({**answers, "ci": DEFAULTS["ci"]})


def distinct_templates(matrix: list[dict]) -> dict[str, dict]:
    return {template_key(a): {**a, "ci": DEFAULTS["ci"]} for a in matrix}


# The CLI itself (~4 s a process) for the defaults and for everything off.
CLI_VALIDATED = distinct_templates(quick_matrix()[:2])
IN_PROCESS_VALIDATED = {
    key: answers
    for key, answers in distinct_templates(full_matrix()).items()
    if key not in CLI_VALIDATED
}


@pytest.mark.parametrize(
    "ci", [v for v in values("ci") if v != DEFAULTS["ci"]], ids=lambda v: f"ci={v}"
)
def test_template_yaml_does_not_depend_on_ci(bake, ci):
    """What lets the validation below treat answers differing only in ci as one."""
    for answers in distinct_templates(full_matrix()).values():
        default = baked_project(bake, answers) / "template.yaml"
        other = baked_project(bake, {**answers, "ci": ci}) / "template.yaml"
        assert other.read_bytes() == default.read_bytes(), combination_id(answers)


@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=k) for k, a in CLI_VALIDATED.items()]
)
def test_sam_validate_lint_cli(bake, answers):
    project = baked_project(bake, answers)
    result = run(
        [tool("sam"), "validate", "--lint", "--region", REGION],
        cwd=project,
        env=sam_environment(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "is a valid SAM Template" in result.stdout


@pytest.fixture(scope="session")
def in_process_validator(cfn_lint, sam_transform):
    """`sam validate --lint` minus the CLI: the same cfnlint call with the same
    arguments (conftest.cfn_lint: once per distinct template in the run), and the
    template after SAM's transform (conftest.sam_transform, as often)."""

    def validate(template: Path) -> tuple[list[str], dict]:
        return cfn_lint(template), sam_transform(template)

    return validate


def translate(document: dict) -> str:
    """Plain `sam validate`'s SAM translation of a template (SAM CLI's
    SamTemplateValidator), as the YAML text it gives. The managed-policy loader is
    a stub: the template names no managed policies, and the real one needs AWS
    credentials."""
    from samcli.lib.translate.sam_template_validator import SamTemplateValidator

    class NoManagedPolicies:
        def load(self) -> dict:
            return {}

    validator = SamTemplateValidator(document, NoManagedPolicies(), region=REGION)
    return validator.get_translated_template_if_valid()


# The API deployment's logical ID and description end in a hash of the API: the
# transform hashes a Python 2.7-compatible copy of the template (samtranslator
# translator/transform.py, to_py27_compatible_template), SamTemplateValidator the
# template itself, so the two hashes differ and nothing else does.
DEPLOYMENT_HASH = re.compile(
    r"(?<=Deployment)[0-9a-f]{10}\b|(?<=deployment id: )[0-9a-f]{40}"
)


@pytest.mark.parametrize(
    "answers",
    [pytest.param(a, id=k) for k, a in distinct_templates(quick_matrix()).items()],
)
def test_plain_sam_validate_translates_as_the_shared_transform(
    bake, sam_transform, answers
):
    """Plain `sam validate`'s translation (SamTemplateValidator, as `sam validate`
    runs it by default) accepts each distinct template of the quick subset
    (every value of every option) and gives the document the tests read after SAM's
    transform (conftest.sam_transform) but for the deployment's hash. And libyaml
    (support/documents.py parse_cfn()) reads templates and translations as SAM
    CLI's pure-Python yaml_parse does."""
    from samcli.yamlhelper import yaml_parse

    template = baked_project(bake, answers) / "template.yaml"
    text = template.read_text(encoding="utf-8")
    assert parse_cfn(text) == yaml_parse(text)
    translated = translate(yaml_parse(text))
    assert parse_cfn(translated) == yaml_parse(translated)

    def unhashed(document: dict) -> str:
        return DEPLOYMENT_HASH.sub("#", json.dumps(document, sort_keys=True))

    assert unhashed(parse_cfn(translated)) == unhashed(sam_transform(template))
    assert "AWS::Lambda::Function" in translated


def test_in_process_validation_finds_what_the_cli_finds(
    bake, in_process_validator, tmp_path
):
    """The in-process route is not vacuous: on a broken template it reports the
    same cfn-lint rules as `sam validate --lint`."""
    text = (baked_project(bake, DEFAULTS) / "template.yaml").read_text(encoding="utf-8")
    broken = text.replace("Timeout: 10\n", "Timeout: 9999\n").replace(
        f"Runtime: {DEFAULTS['runtime']}\n", "Runtime: python3.8\n"
    )
    assert broken.count("9999") == 1 and "python3.8" in broken
    (tmp_path / "template.yaml").write_text(broken, encoding="utf-8")

    cli = run(
        [tool("sam"), "validate", "--lint", "--region", REGION],
        cwd=tmp_path,
        env=sam_environment(),
    )
    assert cli.returncode == 1, cli.stdout + cli.stderr
    cli_rules = sorted(re.findall(r"\[([EWI]\d{4}):", cli.stdout))
    findings, _ = in_process_validator(tmp_path / "template.yaml")
    in_process_rules = sorted(re.match(r"\[([EWI]\d{4}):", f)[1] for f in findings)
    assert cli_rules == in_process_rules
    assert {"E3034", "W2531"} <= set(cli_rules)  # Timeout maximum, deprecated runtime


def test_sam_validate_lint_in_process(bake, cfn_lint, in_process_validator):
    """Every other distinct template.yaml (the full matrix less ci, which changes
    none: the test above), as `sam validate --lint` validates it."""
    groups = bake.each(IN_PROCESS_VALIDATED.values())
    # cfn-lint in the batches the workers share (conftest.cfn_lint), not one by one.
    cfn_lint.prefetch(group.project / "template.yaml" for group in groups)

    def check(project: Path, answers: dict) -> None:
        findings, translated = in_process_validator(project / "template.yaml")
        assert findings == []

        # The translation is the CloudFormation that would be deployed: the options
        # reach it.
        resources = translated["Resources"]
        function = resources[FUNCTION]["Properties"]
        assert function["Runtime"] == answers["runtime"]
        assert function["Architectures"] == [answers["architecture"]]
        assert ("Layers" in function) == (answers["powertools_source"] == "layer")
        assert (function.get("TracingConfig") == {"Mode": "Active"}) == answers[
            "tracing"
        ]
        variables = function["Environment"]["Variables"]
        assert ("POWERTOOLS_METRICS_NAMESPACE" in variables) == answers["metrics"]
        assert ("POWERTOOLS_LOG_LEVEL" in variables) == answers["logging"]
        stages = [
            r for r in resources.values() if r["Type"] == "AWS::ApiGateway::Stage"
        ]
        assert [s["Properties"]["StageName"] for s in stages] == ["Prod"]
        assert (
            stages[0]["Properties"].get("TracingEnabled", False) == answers["tracing"]
        )

    check_each(groups, check)


# --------------------------------------------------------------------------
# sam build


BUILDS = [pytest.param(a, id=combination_id(a)) for a in build_matrix()]


@pytest.mark.parametrize("answers", BUILDS)
def test_sam_build_bundles_exactly_what_is_selected(sam_builds, answers):
    build = sam_builds(answers)
    entries = {p.name for p in build.iterdir()}
    assert {"app.py", "json_resolver.py"} <= entries
    powertools = {e for e in entries if e.startswith("aws_lambda_powertools")}

    if answers["powertools_source"] == "layer":
        # Nothing bundled: Powertools and its dependencies come from the layer.
        assert entries == {"app.py", "json_resolver.py", "requirements.txt"}
        return

    assert powertools == {
        "aws_lambda_powertools",
        f"aws_lambda_powertools-{POWERTOOLS_VERSION}.dist-info",
    }
    metadata = build / f"aws_lambda_powertools-{POWERTOOLS_VERSION}.dist-info/METADATA"
    assert f"\nVersion: {POWERTOOLS_VERSION}\n" in metadata.read_text(encoding="utf-8")
    xray = {e for e in entries if e.startswith("aws_xray_sdk")}
    assert bool(xray) == answers["tracing"], sorted(entries)
    if answers["tracing"]:
        assert "aws_xray_sdk" in xray
        assert any(e.endswith(".dist-info") for e in xray)

    # Compiled extensions (wrapt, with tracing) are for the selected architecture
    # and runtime, not this machine.
    machine = {"arm64": "aarch64", "x86_64": "x86_64"}[answers["architecture"]]
    abi = "cpython-" + answers["runtime"].removeprefix("python").replace(".", "")
    for extension in build.rglob("*.so"):
        assert f"{abi}-{machine}-linux-gnu" in extension.name, extension


# Runs under the runtime's interpreter with -I -S: no site-packages, no PYTHON*
# variables, no current directory; bytecode goes beside the project, never into
# the build other tests share (pycache_prefix); the build output first on
# sys.path, then the layer stand-in (Lambda puts layers after the function code).
HARNESS = r"""
import json, sys, sysconfig
request = json.loads(sys.argv[1])
sys.path[:0] = [request["build"]]
sys.path.extend(request["layers"])

import app
import aws_lambda_powertools
from aws_lambda_powertools.shared.version import VERSION

roots = [request["build"], *request["layers"],
         sysconfig.get_path("stdlib"), sysconfig.get_path("platstdlib")]
foreign = sorted(
    name for name, module in list(sys.modules.items())
    if getattr(module, "__file__", None)
    and not any(module.__file__.startswith(root) for root in roots)
)

class Context:
    function_name = "HelloWorldFunction"
    function_version = "$LATEST"
    memory_limit_in_mb = 256
    invoked_function_arn = (
        "arn:aws:lambda:us-east-1:123456789012:function:HelloWorldFunction"
    )
    aws_request_id = "0b3a1d5e-4f1c-4c3e-9f7a-2a1b3c4d5e6f"
    log_group_name = "/aws/lambda/HelloWorldFunction"
    log_stream_name = "2026/11/26/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self):
        return 10_000

responses = []
for event in request["events"]:
    print("INVOKE", event["path"], flush=True)
    responses.append(app.lambda_handler(event, Context()))
sys.stdout.flush()
print("REPORT " + json.dumps({
    "powertools_file": aws_lambda_powertools.__file__,
    "version": VERSION,
    "xray_loaded": "aws_xray_sdk" in sys.modules,
    "foreign_modules": foreign,
    "responses": responses,
}))
"""


def run_built_function(answers: dict, build: Path, events: list[dict]):
    """Import app.py from the build output and call its handler with each event;
    returns (report, the lines printed during each invocation)."""
    runtime = answers["runtime"]
    layers = (
        [str(layer_stand_in(runtime))]
        if answers["powertools_source"] == "layer"
        else []
    )
    template = build.parents[2] / "template.yaml"
    env = {
        "PATH": os.environ.get("PATH", ""),
        "LANG": "C.UTF-8",
        # What Lambda and sam local set; AWS_SAM_LOCAL keeps Tracer from emitting.
        "AWS_SAM_LOCAL": "true",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        **environment_variables(function_properties(template)),
    }
    request = {"build": str(build), "layers": layers, "events": events}
    pycache = build.parents[2] / ".pycache"
    result = run(
        [require_interpreter(runtime), "-I", "-S", "-X", f"pycache_prefix={pycache}"]
        + ["-c", HARNESS, json.dumps(request)],
        env=env,
        cwd=build,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.splitlines()
    assert lines[-1].startswith("REPORT "), result.stdout
    report = json.loads(lines[-1].removeprefix("REPORT "))
    per_invocation: list[list[str]] = []
    for line in lines[:-1]:
        if line.startswith("INVOKE "):
            per_invocation.append([])
        elif per_invocation:
            per_invocation[-1].append(line)
    return report, per_invocation


@pytest.mark.parametrize("answers", BUILDS)
def test_built_app_imports_cleanly(sam_builds, answers):
    build = sam_builds(answers)
    report, _ = run_built_function(answers, build, events=[])

    assert report["version"] == POWERTOOLS_VERSION
    powertools = Path(report["powertools_file"])
    if answers["powertools_source"] == "pip":
        assert build in powertools.parents
    else:
        assert layer_stand_in(answers["runtime"]) in powertools.parents
    assert report["xray_loaded"] == answers["tracing"]
    assert report["foreign_modules"] == []


def json_lines(lines: list[str]) -> list[dict]:
    parsed = []
    for line in lines:
        if line.startswith("{"):
            try:
                parsed.append(json.loads(line))
            except json.JSONDecodeError:
                pass
    return parsed


@pytest.mark.parametrize("answers", BUILDS)
def test_built_handler_answers_api_gateway_events(sam_builds, api_events, answers):
    build = sam_builds(answers)
    events = [api_events["hello"], api_events["hello_name"], api_events["unknown"]]
    report, printed = run_built_function(answers, build, events)

    statuses = [r["statusCode"] for r in report["responses"]]
    bodies = [json.loads(r["body"]) for r in report["responses"]]
    assert statuses == [200, 200, 404]
    assert bodies == [
        {"message": "hello unknown!"},
        {"message": "hello Ada!"},
        {"message": "Not found"},
    ]
    for response in report["responses"]:
        assert response["isBase64Encoded"] is False
        assert response["multiValueHeaders"]["Content-Type"] == ["application/json"]

    # What the selected utilities print on stdout (CloudWatch Logs in Lambda).
    variables = environment_variables(
        function_properties(build.parents[2] / "template.yaml")
    )
    service = variables["POWERTOOLS_SERVICE_NAME"]
    namespace = variables.get("POWERTOOLS_METRICS_NAMESPACE")
    request_id = api_events["hello"]["requestContext"]["requestId"]
    for route, lines in zip(["/hello", "/hello/<name>", None], printed, strict=True):
        records = json_lines(lines)
        emf = [r for r in records if "_aws" in r]
        logs = [r for r in records if "_aws" not in r]
        greeted = 1 if route else 0  # the unknown route neither greets nor counts

        if answers["metrics"]:
            greetings = [r for r in emf if "Greetings" in r]
            assert len(greetings) == greeted, lines
            for metric in greetings:
                directive = metric["_aws"]["CloudWatchMetrics"][0]
                assert directive["Namespace"] == namespace
                assert metric["Greetings"] == [1.0]
                assert (metric["route"], metric["service"]) == (route, service)
        else:
            assert emf == [], lines

        if answers["logging"]:
            greetings = [r for r in logs if r.get("message") == "Greeting"]
            assert len(greetings) == greeted, lines
            for record in greetings:
                assert (record["route"], record["service"]) == (route, service)
                assert record["function_name"] == FUNCTION
                assert record["correlation_id"] == request_id
        else:
            assert logs == [], lines
