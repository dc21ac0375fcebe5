"""powertools_source=layer: the layer is the template parameter PowertoolsLayerArn, an
SSM parameter name (AWS::SSM::Parameter::Value<String>) that defaults to Powertools'
public parameter for the pinned version, so CloudFormation resolves it at deploy, and
that `sam local` takes as an ARN through --parameter-overrides.

Checked with SAM CLI's own code, offline: its click commands parse docs/layer.md's
`sam local` command lines, SamLocalStackProvider and SamFunctionProvider resolve the
template as `sam local invoke`/`start-api` do, and its LayerDownloader asks Lambda for
the layer (a botocore Stubber stands in for AWS, checking the request against the
service model). Docker is not needed for any of it, nor available here.
"""

from __future__ import annotations

import importlib.util
import re
import shlex
import shutil
from pathlib import Path

import boto3
import pytest
from botocore.stub import Stubber
from samcli.commands.local.cli_common.user_exceptions import InvalidLayerVersionArn
from samcli.commands.local.invoke.cli import cli as sam_local_invoke
from samcli.commands.local.start_api.cli import cli as sam_local_start_api
from samcli.lib.providers.provider import LayerVersion
from samcli.lib.providers.sam_function_provider import SamFunctionProvider
from samcli.lib.providers.sam_stack_provider import SamLocalStackProvider
from samcli.local.layers.layer_downloader import LayerDownloader

from matrix import (
    DEFAULTS,
    POWERTOOLS_VERSION,
    combination_id,
    full_matrix,
    quick_matrix,
)
from support.documents import FUNCTION, REGION, load_cfn
from support.markdown import markdown_tokens
from support.renders import (
    SCOPES,
    baked_project,
    check_each,
    scope_matrix,
)
from support.shared import digest

PARAMETER = "PowertoolsLayerArn"


# What the layer's lines and SAM CLI's local reading of the function depend on:
# the layer's SSM path names the runtime and architecture; the build's Metadata and
# SnapStart's alias change what SamFunctionProvider reads. Logging, tracing and
# metrics change only environment variables (every template is validated in full
# by test_sam_cli.py), so they stay at their defaults here.
LAYER_KEYS = ("runtime", "architecture", "build_method", "snapstart")


def params(source: str) -> list:
    """One combination per value of LAYER_KEYS for this powertools_source; the ones
    in the quick subset run in the fast loop."""
    quick = {combination_id(a) for a in quick_matrix()}
    chosen = {}
    for answers in full_matrix():
        if answers["powertools_source"] == source:
            picked = {k: answers[k] for k in LAYER_KEYS}
            answers = {**DEFAULTS, **picked, "powertools_source": source}
            chosen[combination_id(answers)] = answers
    return [
        pytest.param(a, id=key, marks=() if key in quick else pytest.mark.slow)
        for key, a in chosen.items()
    ]


LAYER = params("layer")
PIP = params("pip")


def ssm_path(answers: dict) -> str:
    return (
        f"/aws/service/powertools/python/{answers['architecture']}/"
        f"{answers['runtime']}/{POWERTOOLS_VERSION}"
    )


def layer_arn(answers: dict) -> str:
    """An ARN of the shape Powertools' SSM parameter holds, as the workflow that
    writes them names the layer:
    aws-powertools/powertools-lambda-python .github/workflows/update_ssm.yml."""
    runtime = answers["runtime"].replace(".", "")
    return (
        f"arn:aws:lambda:{REGION}:017000801446:layer:"
        f"AWSLambdaPowertoolsPythonV3-{runtime}-{answers['architecture']}:27"
    )


def local_layers(project, overrides: dict | None) -> list[LayerVersion]:
    """The function's layers as `sam local invoke` and `start-api` see them."""
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(project / "template.yaml"), parameter_overrides=overrides
    )
    (function,) = SamFunctionProvider(stacks).get_all()
    assert function.name == FUNCTION
    return function.layers


@pytest.mark.parametrize("answers", LAYER)
def test_layer_is_the_pinned_ssm_parameter(bake, answers):
    template = load_cfn(baked_project(bake, answers) / "template.yaml")
    # Beside FunctionPermissionsBoundary (test_deploy_role_reach.py).
    assert set(template["Parameters"]) == {PARAMETER, "FunctionPermissionsBoundary"}
    assert template["Parameters"][PARAMETER] == {
        "Type": "AWS::SSM::Parameter::Value<String>",
        "Default": ssm_path(answers),
    }
    function = template["Resources"][FUNCTION]["Properties"]
    assert function["Layers"] == [{"Ref": PARAMETER}]


@pytest.mark.parametrize("answers", LAYER)
def test_sam_local_takes_the_arn_from_parameter_overrides(bake, answers):
    project = baked_project(bake, answers)
    arn = layer_arn(answers)

    (layer,) = local_layers(project, {PARAMETER: arn})

    assert isinstance(layer, LayerVersion)
    assert not layer.is_defined_within_template
    assert (layer.arn, layer.version) == (arn, 27)
    assert layer.layer_arn == arn.rsplit(":", 1)[0]


@pytest.mark.parametrize("answers", LAYER)
def test_sam_local_without_the_override_stops_on_the_ssm_path(bake, answers):
    """SAM CLI resolves a parameter to its Default locally: the SSM path, which is
    no ARN. It fails where it first needs the ARN's parts (the layer's cache name),
    with the message docs/layer.md quotes."""
    project = baked_project(bake, answers)

    (layer,) = local_layers(project, None)

    assert layer.arn == ssm_path(answers)
    with pytest.raises(InvalidLayerVersionArn) as raised:
        _ = layer.name
    assert str(raised.value) == f"{ssm_path(answers)} is an Invalid Layer Arn."
    page = (project / "docs" / "layer.md").read_text(encoding="utf-8")
    assert "`Error: /aws/service/powertools/... is an Invalid Layer Arn.`" in page


def test_sam_local_asks_lambda_for_exactly_that_layer_version(bake, tmp_path):
    answers = {**DEFAULTS, "powertools_source": "layer"}
    project = baked_project(bake, answers)
    arn = layer_arn(answers)
    stacks, _ = SamLocalStackProvider.get_stacks(
        str(project / "template.yaml"), parameter_overrides={PARAMETER: arn}
    )
    (function,) = SamFunctionProvider(stacks).get_all()
    lambda_client = boto3.client(
        "lambda",
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    stub = Stubber(lambda_client)
    stub.add_client_error(
        "get_layer_version",
        "ResourceNotFoundException",
        expected_params={"LayerName": arn.rsplit(":", 1)[0], "VersionNumber": 27},
    )
    downloader = LayerDownloader(
        str(tmp_path), str(project), stacks, lambda_client=lambda_client
    )

    with stub, pytest.raises(Exception, match=f"^{re.escape(arn)} was not found"):
        downloader.download_all(function.layers)

    stub.assert_no_pending_responses()


def readme_shell_commands(readme: str) -> list[list[str]]:
    """Every command of a Markdown page's bash blocks, continuation lines joined,
    as the shell splits it ($LAYER_ARN left as a word)."""
    commands = []
    for token in markdown_tokens(readme):
        if token.type == "fence" and token.info == "bash":
            for line in token.content.replace("\\\n", " ").splitlines():
                words = shlex.split(line, comments=True)
                if words:
                    commands.append(words)
    return commands


@pytest.mark.parametrize("answers", LAYER)
def test_readme_local_commands_give_sam_the_resolved_arn(bake, monkeypatch, answers):
    """docs/layer.md's commands, parsed by SAM CLI's own click commands: the value
    `aws ssm get-parameter` prints reaches the function as its layer."""
    project = baked_project(bake, answers)
    commands = readme_shell_commands(
        (project / "docs" / "layer.md").read_text(encoding="utf-8")
    )
    (resolve,) = [c for c in commands if c[:1] == ["LAYER_ARN=$(aws"]]
    assert resolve[1:3] == ["ssm", "get-parameter"]
    options = dict(zip(resolve[3::2], resolve[4::2], strict=True))
    assert options == {
        "--query": "Parameter.Value",
        "--output": "text",
        "--name": ssm_path(answers) + ")",
    }
    arn = layer_arn(answers)
    monkeypatch.chdir(project)  # SAM CLI finds template.yaml and samconfig.toml here
    for command in (sam_local_invoke, sam_local_start_api):
        (line,) = [c for c in commands if c[:3] == ["sam", "local", command.name]]
        arguments = [word.replace("$LAYER_ARN", arn) for word in line[3:]]
        context = command.make_context(command.name, arguments)
        overrides = context.params["parameter_overrides"]
        assert overrides == {PARAMETER: arn}, command.name
        (layer,) = local_layers(project, overrides)
        assert layer.arn == arn


@pytest.mark.parametrize("answers", PIP)
def test_pip_build_has_nothing_of_the_layer(bake, answers):
    project = baked_project(bake, answers)
    for path in project.rglob("*"):
        if path.is_file():
            text = path.read_text(encoding="utf-8")
            for trace in (PARAMETER, "/aws/service/powertools", "Layers:"):
                assert trace not in text, f"{trace} in {path.name}"
    template = load_cfn(project / "template.yaml")
    assert PARAMETER not in template["Parameters"]
    assert local_layers(project, None) == []


# What the generated layer-version test reads.
LAYER_GUARD = "tests/unit/test_layer_version.py"
LAYER_GUARD_READS = ["template.yaml", "requirements-dev.txt", LAYER_GUARD]


def layer_guard(root: Path) -> str | None:
    """The generated layer-version test (a plain function) run on the project at
    `root`: None if it passes, else its failure's message."""
    path = root / LAYER_GUARD
    spec = importlib.util.spec_from_file_location(f"guard_{digest(str(path))}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    try:
        module.test_the_layer_is_the_pinned_powertools_version()
    except AssertionError as error:
        return str(error)
    return None


@pytest.mark.parametrize("scope", SCOPES)
def test_layer_version_guard_fails_when_the_copies_disagree(bake, tmp_path, scope):
    """The generated test passes as rendered and fails once requirements-dev.txt pins
    another Powertools than the layer in template.yaml (what a Dependabot update
    does): for every layer combination of the scope, once per distinct content of
    what the test reads."""
    combinations = [a for a in scope_matrix(scope) if a["powertools_source"] == "layer"]

    def check(project: Path, answers: dict) -> None:
        copy = tmp_path / combination_id(answers)
        for name in LAYER_GUARD_READS:
            (copy / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(project / name, copy / name)
        assert layer_guard(copy) is None
        requirements = copy / "requirements-dev.txt"
        bumped = requirements.read_text(encoding="utf-8").replace(
            f"=={POWERTOOLS_VERSION}", "==99.0.0"
        )
        requirements.write_text(bumped, encoding="utf-8")
        failure = layer_guard(copy)
        assert failure is not None and "requirements-dev.txt pins 99.0.0" in failure

    check_each(bake.alike(combinations, LAYER_GUARD_READS), check)
