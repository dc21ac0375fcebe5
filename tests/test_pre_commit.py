"""The pre-commit configurations, of this repository and of the generated project,
run for real: `pre-commit run --all-files` in a git repository holding the files,
every hook running on something and passing; a violation fails the hook that owns
it. Hooks are `repo: local` with pinned `additional_dependencies`, installed by
pre-commit from PyPI into .cache/pre-commit/ (PRE_COMMIT_HOME), kept between runs.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
import tomllib
from pathlib import Path

import pytest
import yaml

from matrix import (
    COOKIECUTTER_JSON,
    DEFAULTS,
    EVERYTHING_OFF,
    ROOT,
    full_matrix,
    quick_matrix,
)
from support.processes import clean_environment, run
from support.renders import baked_project
from support.shared import CACHE
from support.tools import TOOL_PINS

CONFIG = ".pre-commit-config.yaml"


def pre_commit_environment() -> dict[str, str]:
    return {
        **clean_environment(),
        "PRE_COMMIT_HOME": str(CACHE / "pre-commit"),
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_CONFIG_NOSYSTEM": "1",
    }


def git_repository(files: dict[str, Path], destination: Path) -> Path:
    """A new git repository with these files (repository path -> source), staged:
    what `pre-commit run --all-files` reads."""
    destination.mkdir()
    for relative, source in files.items():
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target)
    for command in (["init", "-q"], ["add", "-A"]):
        done = run(["git", *command], cwd=destination, env=pre_commit_environment())
        assert done.returncode == 0, done.stderr
    return destination


def pre_commit(repository: Path):
    return run(
        [sys.executable, "-m", "pre_commit", "run", "--all-files", "--color", "never"],
        cwd=repository,
        env=pre_commit_environment(),
    )


def hooks(config: Path) -> list[dict]:
    document = yaml.safe_load(config.read_text(encoding="utf-8"))
    return [hook for repo in document["repos"] for hook in repo["hooks"]]


def outcomes(output: str) -> dict[str, str]:
    """hook name -> Passed, Failed or Skipped, from pre-commit's report lines."""
    found = {}
    for line in output.splitlines():
        match = re.fullmatch(r"(.+?)\.{3,}(?:\(no files to check\))?(\w+)", line)
        if match:
            found[match[1]] = match[2]
    return found


def assert_every_hook_passed(repository: Path, result) -> None:
    assert result.returncode == 0, result.stdout + result.stderr
    names = [hook["name"] for hook in hooks(repository / CONFIG)]
    # Each hook checked something: "(no files to check)Skipped" would be vacuous.
    assert outcomes(result.stdout) == dict.fromkeys(names, "Passed"), result.stdout


def repository_files() -> dict[str, Path]:
    """The checkout's files, as a commit of it would hold them: tracked or new,
    not ignored."""
    listed = run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT,
    )
    assert listed.returncode == 0, listed.stderr
    names = {name for name in listed.stdout.split("\0") if name}
    return {name: ROOT / name for name in sorted(names) if (ROOT / name).is_file()}


def project_files(project: Path) -> dict[str, Path]:
    return {
        p.relative_to(project).as_posix(): p for p in project.rglob("*") if p.is_file()
    }


def test_template_repository_hooks_pass(tmp_path):
    repository = git_repository(repository_files(), tmp_path / "template")
    assert_every_hook_passed(repository, pre_commit(repository))


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(DEFAULTS, id="defaults"),
        pytest.param(EVERYTHING_OFF, id="everything-off", marks=pytest.mark.slow),
    ],
)
def test_generated_project_hooks_pass(bake, tmp_path, answers):
    project = baked_project(bake, answers)
    repository = git_repository(project_files(project), tmp_path / project.name)
    assert_every_hook_passed(repository, pre_commit(repository))


@pytest.mark.slow
def test_generated_hooks_fail_on_a_violation(bake, tmp_path):
    """Not vacuous: an unused import, an unformatted line and an out-of-range
    Timeout fail the hooks that own them, and only those."""
    project = baked_project(bake, DEFAULTS)
    repository = git_repository(project_files(project), tmp_path / project.name)
    app = repository / "hello_world" / "app.py"
    source = app.read_text(encoding="utf-8")
    app.write_text(f"import os\n{source}answer=42\n", encoding="utf-8")
    template = repository / "template.yaml"
    text = template.read_text(encoding="utf-8")
    assert text.count("Timeout: 10\n") == 1
    template.write_text(text.replace("Timeout: 10\n", "Timeout: 9999\n"), "utf-8")
    run(["git", "add", "-A"], cwd=repository, env=pre_commit_environment())

    result = pre_commit(repository)

    assert result.returncode == 1, result.stdout
    failed = {k for k, v in outcomes(result.stdout).items() if v == "Failed"}
    assert failed == {"ruff check", "ruff format", "cfn-lint"}, result.stdout
    assert "F401" in result.stdout and "E3034" in result.stdout


@pytest.mark.parametrize(
    "combinations",
    [
        pytest.param(quick_matrix(), id="quick"),
        pytest.param(full_matrix(), id="full", marks=pytest.mark.slow),
    ],
)
def test_generated_hooks_only_name_files_that_exist(bake, combinations):
    """No hook for a declined option: in every distinct rendering of the config,
    each hook's `files` pattern matches a file of the project it came with."""
    for rendering in bake.distinct(CONFIG, combinations):
        project = rendering.path.parent
        files = project_files(project)
        for hook in hooks(rendering.path):
            if "files" in hook:
                pattern = re.compile(hook["files"])
                assert any(pattern.search(f) for f in files), (
                    hook["id"],
                    rendering.combinations[0],
                )


def dev_pins() -> dict[str, str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(line.split("==") for line in pyproject["dependency-groups"]["dev"])


def hook_pins(config: Path) -> dict[str, set[str]]:
    pins: dict[str, set[str]] = {}
    for hook in hooks(config):
        for requirement in hook.get("additional_dependencies", []):
            name, version = requirement.split("==")
            pins.setdefault(name, set()).add(version)
    return pins


def test_hook_pins_are_the_repository_pins(bake):
    """One version of each tool: this repository's hooks use the pins of
    pyproject.toml (dev) and .ci/tools.txt; the generated hooks use the
    cookiecutter.json pins, which are the same tools' pins here."""
    pins = {**dev_pins(), **TOOL_PINS}
    root = hook_pins(ROOT / ".pre-commit-config.yaml")
    assert root == {name: {pins[name]} for name in root}

    generated = hook_pins(baked_project(bake, DEFAULTS) / CONFIG)
    assert generated == {
        "ruff": {COOKIECUTTER_JSON["_ruff_version"]},
        "cfn-lint": {COOKIECUTTER_JSON["_cfn_lint_version"]},
        "check-jsonschema": {COOKIECUTTER_JSON["_check_jsonschema_version"]},
    }
    assert COOKIECUTTER_JSON["_cfn_lint_version"] == pins["cfn-lint"]
    assert COOKIECUTTER_JSON["_check_jsonschema_version"] == pins["check-jsonschema"]
