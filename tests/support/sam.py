"""The SAM CLI's side: one plain `sam build` per combination per run (SamBuilds),
and API Gateway events made by `sam local generate-event`."""

from __future__ import annotations

import functools
import json
import shutil
from pathlib import Path

from matrix import combination_id
from support.documents import FUNCTION
from support.environments import require_interpreter
from support.processes import clean_environment, run, tool
from support.renders import baked_project
from support.shared import once


def sam_environment() -> dict[str, str]:
    return {**clean_environment(), "SAM_CLI_TELEMETRY": "0"}


class SamBuilds:
    """Each combination copied out of its rendering (sam build writes into the
    project) and built with plain `sam build`, as a user would: once per run, the
    build shared by every pytest-xdist worker (once). Builds are read-only
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


BUILT = ".aws-sam/build"
