"""Shared fixtures: each combination is rendered once per test run and shared by
every pytest-xdist worker (renders.py); work kept in .cache/ is made once, under a
lock (shared.py)."""

from __future__ import annotations

import functools
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix import ROOT
from renders import Renders
from shared import SharedResults, digest, once, run_directory

CACHE = ROOT / ".cache"
# Fixtures of the built-function tests (sam_builds, api_events), shared by modules.
pytest_plugins = ["sam_builds"]
# The region `sam validate --lint` lints for in the tests (it needs one).
LINT_REGION = "us-east-1"


@pytest.fixture(scope="session")
def bake(tmp_path_factory, cookiecutter_config) -> Renders:
    """bake(answers): the run's one rendering of these answers (renders.Renders),
    shared by all pytest-xdist workers."""
    return Renders(run_directory(tmp_path_factory) / "renders", cookiecutter_config)


def baked_project(bake, answers: dict) -> Path:
    """The shared, pristine rendering of these answers: read it, never write to it
    (tests that run tools in a project use working_copy)."""
    result = bake(answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def session_answers(request, fixture: str) -> list[dict]:
    """The answers of every test selected in this run that uses `fixture`, in
    order, without repeats: what a session fixture batching one check over many
    renderings has to cover. (Each pytest-xdist worker sees the whole selection.)"""
    found: dict[str, dict] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "answers" in params and fixture in item.fixturenames:
            found.setdefault(
                json.dumps(params["answers"], sort_keys=True), params["answers"]
            )
    return list(found.values())


@functools.cache
def cfn_lint_runner():
    """cfn-lint's runner as `sam validate --lint` configures it (the region only),
    made once per process: SAM CLI's cfnlint.api.lint call makes one per template,
    which loads every rule again."""
    from cfnlint.config import ConfigMixIn, ManualArgs
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=[LINT_REGION])))


def cfn_lint_templates(templates: dict[str, Path]) -> dict[str, list[str]]:
    """What `sam validate --lint` reports for each template (cfnlint.api.lint's
    steps: decode, then validate), keyed like `templates`."""
    from cfnlint.decode.decode import decode_str

    findings = {}
    for key, path in templates.items():
        template, errors = decode_str(path.read_text(encoding="utf-8"))
        if not errors and template is not None:
            errors = cfn_lint_runner().validate_template(template)
        findings[key] = [str(match) for match in errors or []]
    return findings


@pytest.fixture(scope="session")
def cfn_lint(tmp_path_factory) -> SharedResults:
    """cfn_lint(template) -> what `sam validate --lint` reports for it, computed
    once per distinct template in the run (every worker, every test module);
    cfn_lint.prefetch(templates) lints a batch, shared out between the workers."""
    directory = run_directory(tmp_path_factory) / "cfn-lint"
    return SharedResults(directory, cfn_lint_templates)


def working_copy(bake, answers: dict, destination: Path) -> Path:
    """A private copy of the rendering, for tests that build, test or write in it."""
    source = baked_project(bake, answers)
    return Path(shutil.copytree(source, destination / source.name))


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(command, check=False, **kwargs)


def tool(name: str) -> str:
    """A console script installed beside the Python running the tests."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name) or name


def requirement_lines(path: Path) -> list[str]:
    """Non-comment lines of a requirements file, with -r files expanded."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            lines.extend(requirement_lines(path.parent / line[3:].strip()))
        else:
            lines.append(line)
    return lines


class ProjectEnvironments:
    """One virtual environment per distinct set of generated dev requirements,
    shared by every bake that needs it and kept in .cache/ between runs (made once
    under a lock: pytest-xdist workers and concurrent runs wait for each other)."""

    def __init__(self, root: Path):
        self.root = root

    def python_for(self, project: Path) -> Path:
        requirements = sorted(requirement_lines(project / "requirements-dev.txt"))
        env = self.root / digest("\n".join(requirements))

        def make(env: Path) -> None:
            uv_install(env, requirements)

        once(env, make, stamp="\n".join(requirements))
        return env / "bin" / "python"


def uv_install(env: Path, requirements: list[str]) -> None:
    """A new virtual environment for the Python running the tests, with exactly
    these requirements, through uv (bytecode compiled: each is imported by many
    test processes)."""
    for command in (
        ["venv", "--quiet", "--python", sys.executable, str(env)],
        ["pip", "install", "--quiet", "--compile-bytecode"]
        + ["--python", str(env / "bin" / "python"), *requirements],
    ):
        done = run([tool("uv"), *command])
        assert done.returncode == 0, done.stderr


@pytest.fixture(scope="session")
def project_envs() -> ProjectEnvironments:
    return ProjectEnvironments(CACHE / "envs")


def clean_environment() -> dict[str, str]:
    """The environment a user's shell has: none of ours that changes the app."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "PYTEST_", "PYTHON"))
    }


@pytest.fixture(scope="session")
def cookiecutter_config(tmp_path_factory) -> Path:
    """A cookiecutter user config for every render (renders.py, the CLI, sam
    init, cruft): clones and replay files go to a session directory, never to ~."""
    home = tmp_path_factory.mktemp("cookiecutter-home")
    config = home / "config.yaml"
    config.write_text(
        f"cookiecutters_dir: {json.dumps(str(home / 'cookiecutters'))}\n"
        f"replay_dir: {json.dumps(str(home / 'replay'))}\n",
        encoding="utf-8",
    )
    return config


# Tools whose pins clash with aws-sam-cli's live in a venv each under .cache/tools/,
# installed by noxfile.py (session full) from the exact pins in .ci/tools.txt.
TOOL_PINS = dict(
    line.strip().split("==")
    for line in (ROOT / ".ci" / "tools.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


def isolated_tool(name: str) -> str:
    """The pinned tool's executable; fails in CI (CI set), skips locally, if absent."""
    executable = CACHE / "tools" / name / "bin" / name
    if not executable.exists():
        reason = f"{name} not installed in {executable.parent.parent}: run bash .ci/run"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    version = run([str(executable), "--version"])
    assert TOOL_PINS[name] in version.stdout, (version.stdout, TOOL_PINS[name])
    return str(executable)


@functools.cache
def interpreter(runtime: str) -> str | None:
    """The first working `pythonX.Y` on PATH, searched the way sam build does, as
    its own executable (a pyenv shim runs only with the caller's PATH, and a
    version it does not enable exists but fails to run)."""
    name = runtime  # "python3.13"
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        probe = run(
            [
                str(candidate),
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
            ]
        )
        version, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and version == name[len("python") :]:
            return executable
    return None


def require_interpreter(runtime: str) -> str:
    python = interpreter(runtime)
    if python is None:
        pytest.skip(f"{runtime} interpreter not on this machine (not found on PATH)")
    return python
