"""Every combination of options renders, with exactly its files, clean and linted.

The quick subset (see matrix.quick_matrix) runs in the fast loop; the rest of the
full product is marked slow. Linters run once over every baked project of the
session, not once per project.
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

import pytest

from conftest import baked_project, requirement_lines, run, tool, working_copy
from matrix import DEFAULTS, POWERTOOLS_VERSION, matrix_params, values

COMBINATIONS = matrix_params()

# Generated for every answer.
ALWAYS = {
    ".cookiecutter.json",
    ".gitignore",
    "README.md",
    "events/hello.json",
    "events/hello_encoded_name.json",
    "events/hello_name.json",
    "hello_world/app.py",
    "hello_world/requirements.txt",
    "pyproject.toml",
    "requirements-dev.txt",
    "samconfig.toml",
    "template.yaml",
    "tests/__init__.py",
    "tests/integration/__init__.py",
    "tests/integration/test_api.py",
    "tests/unit/__init__.py",
    "tests/unit/conftest.py",
    "tests/unit/test_handler.py",
}


def expected_files(answers: dict) -> set[str]:
    files = set(ALWAYS)
    if answers["logging"]:
        files.add("tests/unit/test_logging.py")
    if answers["tracing"]:
        files.add("tests/unit/test_tracing.py")
    if answers["metrics"]:
        files.add("tests/unit/test_metrics.py")
    if answers["build_method"] == "makefile":
        files |= {
            "hello_world/Makefile",
            "hello_world/build_function.py",
            "tests/unit/test_build_function.py",
        }
    if answers["ci"] == "github":
        files |= {
            ".github/dependabot.yml",
            ".github/workflows/ci.yml",
            "deploy-role.yaml",
            "requirements-sam.txt",
        }
    if answers["powertools_source"] == "layer":
        files.add("tests/unit/test_layer_version.py")
    return files


def files_in(project: Path) -> set[str]:
    return {
        p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()
    }


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_renders_exactly_the_selected_files(bake, answers):
    project = baked_project(bake, answers)
    assert project.name == "hello-powertools"
    assert files_in(project) == expected_files(answers)
    # No empty directory is left behind by pruning either.
    assert not [d for d in project.rglob("*") if d.is_dir() and not any(d.iterdir())]


# Syntax that is meant to survive rendering: GitHub Actions expressions.
ALLOWED_BRACES = re.compile(r"\$\{\{ [\w.]+ \}\}")


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_no_template_syntax_left(bake, answers):
    project = baked_project(bake, answers)
    for path in project.rglob("*"):
        if path.is_file():
            text = ALLOWED_BRACES.sub("", path.read_text(encoding="utf-8"))
            for token in ("{{", "}}", "{%", "%}", "{#", "#}"):
                assert token not in text, f"{token} left in {path.name}"


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_requirements_are_exactly_pinned(bake, answers):
    project = baked_project(bake, answers)
    function = requirement_lines(project / "hello_world" / "requirements.txt")
    dev_text = (project / "requirements-dev.txt").read_text(encoding="utf-8")
    dev = requirement_lines(project / "requirements-dev.txt")
    extra = "[tracer]" if answers["tracing"] else ""
    # Every variant's dev install starts with what sam build bundles.
    first = next(line for line in dev_text.splitlines() if not line.startswith("#"))
    assert first == "-r hello_world/requirements.txt"
    if answers["powertools_source"] == "pip":
        assert function == [f"aws-lambda-powertools{extra}=={POWERTOOLS_VERSION}"]
        tools = dev[len(function) :]
    else:
        # Beside it, the layer's Powertools, with the tracer extra the layer has.
        assert function == []
        assert dev[0] == f"aws-lambda-powertools[tracer]=={POWERTOOLS_VERSION}"
        tools = dev[1:]
    assert dev[: len(function)] == function
    assert [line.split("==")[0] for line in tools] == [
        "boto3",
        "hypothesis",
        "pytest",
        "ruff",
    ]
    assert all(re.fullmatch(r"[\w\[\].-]+==[\w.]+", line) for line in dev)


@pytest.mark.parametrize(
    "source",
    [
        pytest.param(v, marks=() if v == "layer" else pytest.mark.slow)
        for v in values("powertools_source")
    ],
)
def test_a_dependency_added_to_the_function_reaches_the_tests(bake, tmp_path, source):
    """hello_world/requirements.txt invites the function's own dependencies: pip,
    installing requirements-dev.txt, installs them too (a dry run, no dependencies
    resolved: only what the files ask for)."""
    project = working_copy(bake, {**DEFAULTS, "powertools_source": source}, tmp_path)
    with (project / "hello_world" / "requirements.txt").open("a") as requirements:
        requirements.write("six==1.17.0\n")
    report = tmp_path / "report.json"

    dry_run = run(
        [
            sys.executable,
            "-m",
            "pip",
            "install",
            "--dry-run",
            "--ignore-installed",
            "--no-deps",
            "--quiet",
            "--disable-pip-version-check",
            "--report",
            str(report),
            "-r",
            "requirements-dev.txt",
        ],
        cwd=project,
    )

    assert dry_run.returncode == 0, dry_run.stderr
    installs = {
        item["metadata"]["name"].replace("_", "-"): item["metadata"]["version"]
        for item in json.loads(report.read_text(encoding="utf-8"))["install"]
    }
    assert installs["six"] == "1.17.0"
    assert installs["aws-lambda-powertools"] == POWERTOOLS_VERSION
    assert set(installs) == {
        "six",
        "aws-lambda-powertools",
        "boto3",
        "hypothesis",
        "pytest",
        "ruff",
    }


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_answers_are_recorded(bake, answers):
    project = baked_project(bake, answers)
    recorded = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    for key, value in answers.items():
        assert recorded["cookiecutter"][key] == value


@pytest.fixture(scope="session")
def lint_findings(request, bake) -> dict[Path, list[str]]:
    """ruff check, ruff format --check and cfn-lint, each run once over every
    project this session's generation tests bake; findings keyed by project."""
    projects = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "answers" in params and "lint_findings" in item.fixturenames:
            project = baked_project(bake, params["answers"])
            projects[project.resolve()] = project
    findings: dict[Path, list[str]] = defaultdict(list)

    def owner(filename: str) -> Path:
        path = Path(filename).resolve()
        return next(p for p in projects if p in path.parents)

    paths = [str(p) for p in projects]
    checked = run(
        [
            tool("ruff"),
            "check",
            "--output-format",
            "json",
            "--exit-zero",
            "--no-cache",
            *paths,
        ]
    )
    assert checked.returncode == 0, checked.stderr
    for finding in json.loads(checked.stdout):
        findings[owner(finding["filename"])].append(
            f"ruff {finding['code']} {finding['filename']}:{finding['location']['row']}"
            f" {finding['message']}"
        )
    formatted = run([tool("ruff"), "format", "--check", "--no-cache", *paths])
    for line in formatted.stdout.splitlines():
        if line.startswith("Would reformat: "):
            filename = line.removeprefix("Would reformat: ")
            findings[owner(filename)].append(f"ruff format: {filename}")
    assert formatted.returncode in (0, 1), formatted.stderr

    templates = [str(p / "template.yaml") for p in projects]
    linted = run([tool("cfn-lint"), "--format", "json", "--", *templates])
    assert linted.returncode in (0, 2, 4, 6, 8, 10, 12, 14), linted.stderr
    for match in json.loads(linted.stdout or "[]"):
        findings[owner(match["Filename"])].append(
            f"cfn-lint {match['Rule']['Id']} {match['Message']}"
        )
    return findings


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_ruff_and_cfn_lint_are_clean(bake, lint_findings, answers):
    project = baked_project(bake, answers).resolve()
    assert lint_findings.get(project, []) == []
