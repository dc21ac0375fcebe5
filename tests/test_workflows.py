"""GitHub Actions: the template repository's workflow and the generated project's,
and the generated Dependabot configuration.

All are checked offline with check-jsonschema's built-in schemas (GitHub workflow,
Dependabot) and with zizmor (offline audits, default persona: no findings). Those
two tools conflict with aws-sam-cli's pins, so .ci/run installs each into its own
venv under .cache/tools/ from the exact pins in .ci/tools.txt; in CI (CI set) a
missing tool fails, locally it skips saying how to install it.

The generated files are checked once per distinct rendering: of the quick subset's
ci=github combinations in the fast loop, of all of them in the slow run.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

import pytest
from cookiecutter.main import cookiecutter

from helpers import baked_project, isolated_tool, load_workflow, run
from matrix import DEFAULTS, MATRIX_KEYS, ROOT, full_matrix, quick_matrix, values

TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
PINNED_USES = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")
# The only action that may ask for GitHub's OIDC token (permission id-token: write).
OIDC_ACTION = "aws-actions/configure-aws-credentials"
# Which combinations the generated files are checked for.
SCOPES = ["quick", pytest.param("full", marks=pytest.mark.slow)]


def github_files(bake, scope: str, relative: str) -> list[Path]:
    """`relative` in the ci=github renderings of the scope, one per distinct content;
    every one of them has it."""
    combinations = quick_matrix() if scope == "quick" else full_matrix()
    github = [answers for answers in combinations if answers["ci"] == "github"]
    renderings = bake.distinct(relative, github)
    assert sum(len(r.combinations) for r in renderings) == len(github), relative
    return [rendering.path for rendering in renderings]


@pytest.fixture(scope="session", params=SCOPES)
def scope(request) -> str:
    return request.param


@pytest.fixture(scope="session")
def workflows(scope, bake) -> list[Path]:
    """The template's workflow and every distinct generated one."""
    workflow = ".github/workflows/ci.yml"
    return [TEMPLATE_WORKFLOW, *github_files(bake, scope, workflow)]


@pytest.fixture(scope="session")
def dependabot_configs(scope, bake) -> list[Path]:
    return github_files(bake, scope, ".github/dependabot.yml")


def test_workflows_match_the_github_workflow_schema(workflows):
    checker = isolated_tool("check-jsonschema")
    result = run(
        [checker, "--builtin-schema", "vendor.github-workflows", *map(str, workflows)]
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dependabot_configs_match_the_dependabot_schema(dependabot_configs):
    checker = isolated_tool("check-jsonschema")
    files = map(str, dependabot_configs)
    result = run([checker, "--builtin-schema", "vendor.dependabot", *files])
    assert result.returncode == 0, result.stdout + result.stderr


def test_zizmor_finds_nothing(workflows, dependabot_configs):
    zizmor = isolated_tool("zizmor")
    files = [*workflows, *dependabot_configs]
    result = run(
        [zizmor, "--offline", "--no-progress", "--color", "never", *map(str, files)]
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "No findings to report" in result.stdout, result.stdout


def test_least_privilege_and_pinned_actions(workflows):
    pins: dict[str, set[str]] = {}
    for path in workflows:
        workflow = load_workflow(path)
        assert workflow["permissions"] == {}, path
        for name, job in workflow["jobs"].items():
            assert "permissions" in job, f"{path}: job {name} inherits permissions"
            allowed = {("contents", "read")}
            uses = [step.get("uses", "").split("@")[0] for step in job["steps"]]
            if OIDC_ACTION in uses:
                allowed.add(("id-token", "write"))
            assert set(job["permissions"].items()) <= allowed, name
            for step in job["steps"]:
                if step.get("uses", "").startswith("actions/checkout@"):
                    assert step["with"]["persist-credentials"] is False, name
        for line in path.read_text(encoding="utf-8").splitlines():
            if "uses:" in line:
                match = PINNED_USES.search(line)
                assert match, f"{path}: not pinned to a commit with its tag: {line}"
                pins.setdefault(match[1], set()).add(match[2])
    # One action, one commit, wherever it is used.
    assert all(len(commits) == 1 for commits in pins.values()), pins


def matrix_answer(key: str, value) -> str:
    """The `key=value` the template workflow passes to cookiecutter --no-input."""
    return f"{key}={str(value).lower() if isinstance(value, bool) else value}"


def test_template_workflow_renders_every_option_value():
    render = load_workflow(TEMPLATE_WORKFLOW)["jobs"]["render"]
    assert render["strategy"]["fail-fast"] is False
    assert render["strategy"]["matrix"]["answer"] == [
        matrix_answer(key, value) for key in MATRIX_KEYS for value in values(key)
    ]
    commands = "\n".join(step.get("run", "") for step in render["steps"])
    for check in (
        "--no-input",
        '"$ANSWER"',
        "pip install -r requirements-dev.txt",
        "ruff check .",
        "ruff format --check .",
        "pytest tests/unit",
        'sam" validate --lint',
        'sam" build',
    ):
        assert check in commands, check


@pytest.mark.parametrize(
    ("key", "value"), [(k, v) for k in MATRIX_KEYS for v in values(k)]
)
def test_each_matrix_answer_reaches_cookiecutter(
    cookiecutter_config, tmp_path, key, value
):
    """The workflow's `key=value` strings, as the CLI passes them, select that value
    (booleans included), so no CI job silently renders the defaults."""
    name, text = matrix_answer(key, value).split("=", 1)
    project = cookiecutter(
        str(ROOT),
        no_input=True,
        extra_context={name: text},
        output_dir=str(tmp_path),
        config_file=str(cookiecutter_config),
    )
    recorded = json.loads(Path(project, ".cookiecutter.json").read_text("utf-8"))
    assert recorded["cookiecutter"][key] == value


def test_template_workflow_runs_the_suite_and_gates_on_everything():
    jobs = load_workflow(TEMPLATE_WORKFLOW)["jobs"]
    assert any(step.get("run") == "bash .ci/run" for step in jobs["suite"]["steps"])
    gates = [name for name, job in jobs.items() if job.get("if") == "always()"]
    assert gates == ["all-green"]
    gate = jobs["all-green"]
    assert sorted(gate["needs"]) == sorted(set(jobs) - {"all-green"})
    (step,) = gate["steps"]
    assert step["env"]["RESULTS"] == "${{ join(needs.*.result, ' ') }}"
    assert '[ "$result" = success ] || exit 1' in step["run"]


@pytest.mark.parametrize("result", ["success", "failure", "cancelled", "skipped"])
def test_gate_script_passes_only_when_all_succeeded(result):
    step = load_workflow(TEMPLATE_WORKFLOW)["jobs"]["all-green"]["steps"][0]
    outcome = run(
        ["bash", "-euo", "pipefail", "-c", step["run"]],
        env={"PATH": os.environ["PATH"], "RESULTS": f"success {result}"},
    )
    assert (outcome.returncode == 0) == (result == "success"), outcome.stdout


def test_generated_workflow_lints_tests_validates_and_builds(bake):
    project = baked_project(bake, DEFAULTS)
    workflow = load_workflow(project / ".github" / "workflows" / "ci.yml")
    commands = "\n".join(
        step.get("run", "")
        for job in workflow["jobs"].values()
        for step in job["steps"]
    )
    for check in (
        "pip install -r requirements-dev.txt",
        "ruff check .",
        "ruff format --check .",
        "pytest tests/unit",
        "sam validate --lint",
        "sam validate --lint --template deploy-role.yaml",
        "sam build",
    ):
        assert check in commands, check
