"""Shared fixtures: each combination is baked once per session and shared."""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from matrix import COOKIECUTTER_JSON, ROOT

CACHE = ROOT / ".cache"
# Fixtures of the built-function tests (sam_builds, api_events), shared by modules.
pytest_plugins = ["sam_builds"]


class Baker:
    """Bakes with pytest-cookies, once per set of answers for the whole session."""

    def __init__(self, cookies_session):
        self._cookies = cookies_session
        self._results: dict[str, object] = {}

    def __call__(self, answers: dict):
        unknown = set(answers) - set(COOKIECUTTER_JSON)
        # Cookiecutter silently ignores unknown keys: a typo would test the defaults.
        assert not unknown, f"not in cookiecutter.json: {sorted(unknown)}"
        key = json.dumps(answers, sort_keys=True)
        if key not in self._results:
            self._results[key] = self._cookies.bake(extra_context=dict(answers))
        return self._results[key]


@pytest.fixture(scope="session")
def bake(cookies_session):
    return Baker(cookies_session)


def baked_project(bake, answers: dict) -> Path:
    """The shared, pristine rendering of these answers: read it, never write to it
    (tests that run tools in a project use working_copy)."""
    result = bake(answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


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
    shared by every bake that needs it and kept in .cache/ between runs."""

    def __init__(self, root: Path):
        self.root = root

    def python_for(self, project: Path) -> Path:
        requirements = sorted(requirement_lines(project / "requirements-dev.txt"))
        digest = hashlib.sha256("\n".join(requirements).encode()).hexdigest()[:16]
        env = self.root / digest
        python = env / "bin" / "python"
        if not (env / ".complete").exists():
            shutil.rmtree(env, ignore_errors=True)
            venv.create(env, with_pip=True)
            installed = run(
                [
                    str(python),
                    "-m",
                    "pip",
                    "install",
                    "--quiet",
                    "--disable-pip-version-check",
                    *requirements,
                ]
            )
            assert installed.returncode == 0, installed.stderr
            (env / ".complete").write_text("\n".join(requirements), encoding="utf-8")
        return python


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
    """A cookiecutter user config for renders outside pytest-cookies (the CLI, sam
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
# installed by .ci/run from the exact pins in .ci/tools.txt.
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
    """The first working `pythonX.Y` on PATH, searched the way sam build does.
    A pyenv shim for a version that is not enabled exists but fails to run."""
    name = runtime  # "python3.13"
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        probe = run(
            [str(candidate), "-c", "import sys; print('%d.%d' % sys.version_info[:2])"]
        )
        if probe.returncode == 0 and probe.stdout.strip() == name[len("python") :]:
            return str(candidate)
    return None


def require_interpreter(runtime: str) -> str:
    python = interpreter(runtime)
    if python is None:
        pytest.skip(f"{runtime} interpreter not on this machine (not found on PATH)")
    return python
