"""What the tests of the built function share: one `sam build` per combination
per run, the layer stand-in, the function's environment from template.yaml
and events made by `sam local generate-event`.

A pytest plugin (conftest.py loads it), so its session fixtures exist once
however many modules use them.
"""

from __future__ import annotations

import functools
import json
import platform
import shutil
from pathlib import Path

import pytest

from conftest import (
    CACHE,
    LINT_REGION,
    baked_project,
    clean_environment,
    require_interpreter,
    run,
    tool,
)
from matrix import POWERTOOLS_VERSION, combination_id
from shared import once, run_directory

REGION = LINT_REGION  # the region the CLI validates for, as the in-process lint
FUNCTION = "HelloWorldFunction"


def sam_environment() -> dict[str, str]:
    return {**clean_environment(), "SAM_CLI_TELEMETRY": "0"}


class SamBuilds:
    """Each combination copied out of its rendering (sam build writes into the
    project) and built with plain `sam build`, as a user would: once per run, the
    build shared by every pytest-xdist worker (shared.once). Builds are read-only
    for the tests: a harness that imports from one writes its bytecode elsewhere."""

    def __init__(self, bake, directory: Path):
        self._bake = bake
        self._directory = directory

    def __call__(self, answers: dict) -> Path:
        require_interpreter(answers["runtime"])
        target = self._directory / combination_id(answers)

        def build(target: Path) -> None:
            project = target / "project"
            shutil.copytree(baked_project(self._bake, answers), project)
            built = run([tool("sam"), "build"], cwd=project, env=sam_environment())
            outcome = {"returncode": built.returncode, "stdout": built.stdout}
            outcome["output"] = built.stdout + built.stderr
            (target / "build.json").write_text(json.dumps(outcome), encoding="utf-8")

        built = json.loads((once(target, build) / "build.json").read_text("utf-8"))
        assert built["returncode"] == 0, built["output"]
        assert "Build Succeeded" in built["stdout"]
        return target / "project" / ".aws-sam" / "build" / FUNCTION


@pytest.fixture(scope="session")
def sam_builds(bake, tmp_path_factory) -> SamBuilds:
    return SamBuilds(bake, run_directory(tmp_path_factory) / "sam-builds")


def pip_install(
    python: str, target: Path, requirements: list[str], compile: bool = False
) -> None:
    installed = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--compile" if compile else "--no-compile",
            "--target",
            str(target),
            *requirements,
        ],
        env=clean_environment(),
    )
    assert installed.returncode == 0, installed.stderr


@functools.cache
def layer_stand_in(runtime: str) -> Path:
    """The layer's content for the local interpreter: the same Powertools version
    with [tracer], installed once into .cache/ (kept between runs)."""
    python = require_interpreter(runtime)
    name = f"{POWERTOOLS_VERSION}-{runtime}-{platform.machine()}"
    return once(
        CACHE / "powertools-layer" / name,
        lambda target: pip_install(
            python, target, [f"aws-lambda-powertools[tracer]=={POWERTOOLS_VERSION}"]
        ),
    )


def function_properties(template: Path) -> dict:
    """The function's Properties in the rendered template.yaml."""
    from samcli.yamlhelper import yaml_parse

    parsed = yaml_parse(template.read_text(encoding="utf-8"))
    return parsed["Resources"][FUNCTION]["Properties"]


def environment_variables(properties: dict) -> dict[str, str]:
    """The Lambda environment variables of the function's Properties."""
    return {k: str(v) for k, v in properties["Environment"]["Variables"].items()}


def function_variables(template: Path) -> dict[str, str]:
    """The Lambda environment variables the rendered template.yaml declares."""
    return environment_variables(function_properties(template))


@functools.cache
def _generated_event(*arguments: str) -> str:
    result = run(
        [tool("sam"), "local", "generate-event", *arguments], env=sam_environment()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def sam_event(*arguments: str) -> dict:
    """`sam local generate-event ARGUMENTS`, run once per session per arguments;
    a fresh copy for every caller."""
    return json.loads(_generated_event(*arguments))


def generate_event(path: str, resource: str | None = None) -> dict:
    arguments = ["apigateway", "aws-proxy", "--method", "GET"]
    arguments += ["--path", path.lstrip("/"), "--body", ""]
    if resource:
        arguments += ["--resource", resource]
    return sam_event(*arguments)


def api_event(
    path: str, resource: str | None = None, path_parameters: dict | None = None
) -> dict:
    """A GET event as API Gateway REST sends it for this path, from the generator,
    corrected where the generator's defaults differ from what API Gateway sends
    for these routes (the resolver routes on `path`)."""
    event = generate_event(path, resource)
    if resource:
        event["pathParameters"] = path_parameters
    # An empty GET body is not base64 on the wire.
    event["isBase64Encoded"] = False
    assert event["httpMethod"] == "GET"
    assert event["path"] == path
    return event


@pytest.fixture(scope="session")
def api_events() -> dict[str, dict]:
    """`sam local generate-event apigateway aws-proxy` for each case."""
    hello = api_event("/hello", resource="/hello")
    hello_name = api_event(
        "/hello/Ada", resource="/hello/{name}", path_parameters={"name": "Ada"}
    )
    # A path the API does not route to the app is caught by API Gateway, so the
    # app's own 404 shows for a path that reaches it: the generator's default
    # greedy resource, /{proxy+}, is one.
    unknown = api_event("/goodbye")
    assert unknown["resource"] == "/{proxy+}"
    return {"hello": hello, "hello_name": hello_name, "unknown": unknown}
