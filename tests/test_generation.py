"""Every combination of options renders, with exactly its files, clean and linted.

The quick subset (see matrix.quick_matrix) runs in the fast loop; the rest of the
full product is marked slow. Linters run once per distinct content they read,
not once per combination.
"""

from __future__ import annotations

import functools
import json
import re
import sys
from pathlib import Path

import pytest
import yaml
from samcli.yamlhelper import yaml_parse

from matrix import (
    COOKIECUTTER_JSON,
    DEFAULTS,
    EVERYTHING_OFF,
    POWERTOOLS_VERSION,
    combination_id,
    matrix_params,
    quick_matrix,
    values,
)
from support.documents import load_cfn, load_yaml
from support.linters import python_sources, ruff_findings
from support.pins import requirement_lines
from support.processes import run
from support.renders import (
    SCOPES,
    baked_project,
    check_each,
    scope_matrix,
    session_answers,
    working_copy,
)
from support.shared import SharedResults, run_directory
from support.template import PROJECT_TEMPLATE, post_gen

COMBINATIONS = matrix_params()

# The expectations below are written out by hand, independently of the hooks:
# test_hook_prunes_what_each_option_is_expected_to_own compares them with the
# post-generation hook's OPTION_PATHS.

# Generated for every answer.
ALWAYS = {
    ".cookiecutter.json",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "dev.py",
    "docs/api.md",
    "docs/dependencies.md",
    "docs/develop.md",
    "docs/observe.md",
    "docs/security.md",
    "events/hello.json",
    "events/hello_encoded_name.json",
    "events/hello_name.json",
    "hello_world/app.py",
    "hello_world/json_resolver.py",
    "hello_world/requirements.txt",
    "openapi.json",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements-sam.in",
    "requirements-sam.txt",
    "samconfig.toml",
    "template.yaml",
    "tests/__init__.py",
    "tests/integration/__init__.py",
    "tests/integration/test_api.py",
    "tests/unit/__init__.py",
    "tests/unit/conftest.py",
    "tests/unit/test_handler.py",
    "tests/unit/test_pre_commit_pins.py",
}

# option -> {value: the files generated only with that value}
OPTION_FILES: dict[str, dict[object, set[str]]] = {
    "logging": {True: {"tests/unit/test_logging.py"}},
    "tracing": {True: {"tests/unit/test_tracing.py"}},
    "metrics": {True: {"tests/unit/test_metrics.py"}},
    "monitoring": {True: {"docs/monitoring.md"}},
    "build_method": {
        "makefile": {
            "docs/makefile-build.md",
            "hello_world/Makefile",
            "hello_world/build_function.py",
            "tests/unit/test_build_function.py",
        }
    },
    "powertools_source": {
        "layer": {"docs/layer.md", "tests/unit/test_layer_version.py"}
    },
    "snapstart": {True: {"docs/snapstart.md"}},
    "ci": {
        "github": {
            ".github/dependabot.yml",
            ".github/pin_artifact_versions.py",
            ".github/workflows/ci.yml",
            "deploy-role.yaml",
            "docs/deploy.md",
        }
    },
}


def expected_files(answers: dict) -> set[str]:
    """ALWAYS, and each owned file whose every owning answer was given (a file may
    belong to values of several options)."""
    owners: dict[str, list[tuple[str, object]]] = {}
    for option, owned in OPTION_FILES.items():
        for value, files in owned.items():
            for file in files:
                owners.setdefault(file, []).append((option, value))
    return ALWAYS | {
        file
        for file, owning in owners.items()
        if all(answers[option] == value for option, value in owning)
    }


# Two whole trees, literally: the defaults, and everything off.
DEFAULT_FILES = [
    ".cookiecutter.json",
    ".github/dependabot.yml",
    ".github/pin_artifact_versions.py",
    ".github/workflows/ci.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "deploy-role.yaml",
    "dev.py",
    "docs/api.md",
    "docs/dependencies.md",
    "docs/deploy.md",
    "docs/develop.md",
    "docs/layer.md",
    "docs/monitoring.md",
    "docs/observe.md",
    "docs/security.md",
    "events/hello.json",
    "events/hello_encoded_name.json",
    "events/hello_name.json",
    "hello_world/app.py",
    "hello_world/json_resolver.py",
    "hello_world/requirements.txt",
    "openapi.json",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements-sam.in",
    "requirements-sam.txt",
    "samconfig.toml",
    "template.yaml",
    "tests/__init__.py",
    "tests/integration/__init__.py",
    "tests/integration/test_api.py",
    "tests/unit/__init__.py",
    "tests/unit/conftest.py",
    "tests/unit/test_handler.py",
    "tests/unit/test_layer_version.py",
    "tests/unit/test_logging.py",
    "tests/unit/test_metrics.py",
    "tests/unit/test_pre_commit_pins.py",
    "tests/unit/test_tracing.py",
]
EVERYTHING_OFF_FILES = [
    ".cookiecutter.json",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "dev.py",
    "docs/api.md",
    "docs/dependencies.md",
    "docs/develop.md",
    "docs/layer.md",
    "docs/observe.md",
    "docs/security.md",
    "events/hello.json",
    "events/hello_encoded_name.json",
    "events/hello_name.json",
    "hello_world/app.py",
    "hello_world/json_resolver.py",
    "hello_world/requirements.txt",
    "openapi.json",
    "pyproject.toml",
    "requirements-dev.txt",
    "requirements-sam.in",
    "requirements-sam.txt",
    "samconfig.toml",
    "template.yaml",
    "tests/__init__.py",
    "tests/integration/__init__.py",
    "tests/integration/test_api.py",
    "tests/unit/__init__.py",
    "tests/unit/conftest.py",
    "tests/unit/test_handler.py",
    "tests/unit/test_layer_version.py",
    "tests/unit/test_pre_commit_pins.py",
]


@pytest.mark.parametrize(
    ("answers", "files"),
    [
        pytest.param({}, DEFAULT_FILES, id="defaults"),
        pytest.param(EVERYTHING_OFF, EVERYTHING_OFF_FILES, id="everything-off"),
    ],
)
def test_whole_tree(bake, answers, files):
    project = baked_project(bake, answers)
    assert sorted(files_in(project)) == files
    assert sorted(expected_files({**DEFAULTS, **answers})) == files


def template_files(relative: str) -> set[str]:
    """The files the template generates at (or under) this project path."""
    path = PROJECT_TEMPLATE / relative
    if path.is_file():
        return {relative}
    return {
        f.relative_to(PROJECT_TEMPLATE).as_posix()
        for f in path.rglob("*")
        if f.is_file()
    }


def test_hook_prunes_what_each_option_is_expected_to_own():
    """The hook's table (paths it removes when a value is not chosen) and the one
    above (files each value brings) say the same thing."""
    pruned = {
        option: {
            value: set().union(*map(template_files, paths))
            for value, paths in owned.items()
        }
        for option, owned in post_gen.OPTION_PATHS.items()
    }
    assert pruned == OPTION_FILES


def files_in(project: Path) -> set[str]:
    return {
        p.relative_to(project).as_posix() for p in project.rglob("*") if p.is_file()
    }


def test_the_fast_loop_renders_every_value_of_every_option():
    """The quick subset holds each choice and both sides of each boolean of
    cookiecutter.json (read here, not through the option model), no combination
    twice; it opens with the defaults, then everything off (tests take those two
    by position)."""
    quick = quick_matrix()
    ids = [combination_id(answers) for answers in quick]
    assert len(ids) == len(set(ids)), ids
    options = {
        key: value if isinstance(value, list) else [True, False]
        for key, value in COOKIECUTTER_JSON.items()
        if not key.startswith("_") and isinstance(value, list | bool)
    }
    assert "snapstart" in options
    missing = [
        f"{key}={value}"
        for key, choices in options.items()
        for value in choices
        if not any(answers[key] == value for answers in quick)
    ]
    assert missing == []
    assert quick[0] == DEFAULTS
    off = {key for key, value in options.items() if value == [True, False]}
    assert not any(quick[1][key] for key in off)
    assert quick[1]["ci"] == "none"


@pytest.mark.parametrize("scope", SCOPES)
def test_renders_exactly_the_selected_files(bake, scope):
    def check(project: Path, answers: dict) -> None:
        assert project.name == "hello-powertools"
        assert files_in(project) == expected_files(answers)
        # No empty directory is left behind by pruning either.
        assert not [
            d for d in project.rglob("*") if d.is_dir() and not any(d.iterdir())
        ]

    check_each(bake.each(scope_matrix(scope)), check)


# Syntax that is meant to survive rendering: GitHub Actions expressions.
ALLOWED_BRACES = re.compile(r"\$\{\{ [\w.-]+ \}\}")


# Once per distinct file in a process: the matrix renders most files alike.
@functools.cache
def template_syntax(text: str) -> tuple[str, ...]:
    """The Jinja delimiters left in a rendered file's text."""
    text = ALLOWED_BRACES.sub("", text)
    return tuple(t for t in ("{{", "}}", "{%", "%}", "{#", "#}") if t in text)


@pytest.mark.parametrize("scope", SCOPES)
def test_no_template_syntax_left(bake, scope):
    def check(project: Path, answers: dict) -> None:
        for path in project.rglob("*"):
            if path.is_file():
                left = template_syntax(path.read_text(encoding="utf-8"))
                assert left == (), f"{left} left in {path.name}"

    check_each(bake.each(scope_matrix(scope)), check)


@pytest.mark.parametrize("scope", SCOPES)
def test_requirements_are_exactly_pinned(bake, scope):
    def check(project: Path, answers: dict) -> None:
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
            "pre-commit",
            "pydantic",
            "pytest",
            "pyyaml",
            "ruff",
            "swagger-ui-py",
            "ty",
        ]
        assert all(re.fullmatch(r"[\w\[\].-]+==[\w.]+", line) for line in dev)

    check_each(bake.each(scope_matrix(scope)), check)


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
        "pre-commit",
        "pydantic",
        "pytest",
        "PyYAML",
        "ruff",
        "swagger-ui-py",
        "ty",
    }


@pytest.mark.parametrize("scope", SCOPES)
def test_answers_are_recorded(bake, scope):
    def check(project: Path, answers: dict) -> None:
        recorded = json.loads(
            (project / ".cookiecutter.json").read_text(encoding="utf-8")
        )
        for key, value in answers.items():
            assert recorded["cookiecutter"][key] == value

    check_each(bake.each(scope_matrix(scope)), check)


@pytest.fixture(scope="session")
def lint_findings(request, bake, cfn_lint, tmp_path_factory):
    """findings(answers): what ruff check, ruff format --check and cfn-lint (as
    `sam validate --lint` runs it) report for that rendering. Each linter runs once
    per distinct content it reads (the Python files with their ruff configuration;
    template.yaml), in batches the workers share out."""
    projects = [
        rendered.project_path
        for rendered in bake.render_all(session_answers(request, "lint_findings"))
    ]
    assert None not in projects, "a combination failed to render"
    # ruff takes many projects per call (two processes each): buckets of at least
    # 50 distinct sources per call, not one call per bucket.
    ruff = SharedResults(
        run_directory(tmp_path_factory) / "ruff",
        ruff_findings,
        key=python_sources,
        batch=50,
    )
    ruff.prefetch(projects)
    cfn_lint.prefetch(project / "template.yaml" for project in projects)

    def findings(answers: dict) -> list[str]:
        project = baked_project(bake, answers)
        linted = cfn_lint(project / "template.yaml")
        return ruff(project) + [f"cfn-lint {match}" for match in linted]

    return findings


@pytest.mark.parametrize("scope", SCOPES)
def test_ruff_and_cfn_lint_are_clean(bake, lint_findings, scope):
    def check(project: Path, answers: dict) -> None:
        assert lint_findings(answers) == []

    check_each(bake.each(scope_matrix(scope)), check)


def test_fast_yaml_reads_as_sam_cli(bake):
    """The suite reads the rendered YAML with libyaml (support/documents.py
    load_cfn(), load_yaml()): each distinct template, role template and workflow of
    the quick subset reads as SAM CLI's yaml_parse (templates) and yaml.safe_load
    (the rest) read it."""
    checked = 0
    for relative, fast, reference in (
        ("template.yaml", load_cfn, yaml_parse),
        ("deploy-role.yaml", load_cfn, yaml_parse),
        (".github/workflows/ci.yml", load_yaml, yaml.safe_load),
        (".pre-commit-config.yaml", load_yaml, yaml.safe_load),
    ):
        for rendering in bake.distinct(relative, quick_matrix()):
            expected = reference(rendering.path.read_text(encoding="utf-8"))
            assert fast(rendering.path) == expected, rendering.path
            checked += 1
    assert checked > 4
