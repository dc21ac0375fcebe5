"""The generated workflow's deploy (ci=github; ci=none has none of it): the deploy
job's condition evaluated for each kind of run, its permissions, concurrency and
order; the job graph (only hash-locked code reaches the job holding id-token);
rolling back by re-running an older run's deploy job; the variables docs/deploy.md
names.

No AWS account is reachable here, so nothing is deployed: the workflow's own
commands run against a recording endpoint in test_deploy_commands.py."""

from __future__ import annotations

import json
import os
import re
import shutil
import sys
from pathlib import Path

import pytest

from support.deploy_role import PAGE, ROLE, load_role
from support.documents import load_workflow
from support.github import (
    ARTIFACT_DOWNLOAD,
    ARTIFACT_UPLOAD,
    GITHUB,
    OUTPUT,
    STEP_OUTPUT,
    WORKFLOW,
    GitHubExpression,
    action,
    github_combinations,
    reaching,
    step_running,
    step_using,
)
from support.markdown import page_block
from support.pins import LOCK, lock_pins
from support.processes import bash
from support.renders import SCOPES, baked_project, check_each, scope_matrix
from support.sam import BUILT
from support.shared import file_digest

DELIVERY_FILES = (".github", ROLE, PAGE)


# --- the files exist with ci=github only ---


@pytest.mark.parametrize("scope", SCOPES)
def test_ci_none_has_no_delivery(bake, scope):
    def check(project: Path, answers: dict) -> None:
        assert [p for p in DELIVERY_FILES if (project / p).exists()] == []
        readme = (project / "README.md").read_text(encoding="utf-8")
        for word in ("deploy-role", "Dependabot", "AWS_DEPLOY_ROLE_ARN", ".github"):
            assert word not in readme, word

    check_each(bake.each([a for a in scope_matrix(scope) if a["ci"] == "none"]), check)


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


@pytest.mark.parametrize("scope", SCOPES)
def test_deploy_job_when_after_what_and_with_which_rights(bake, scope):
    def check(project: Path, answers: dict) -> None:
        workflow = load_workflow(project / WORKFLOW)
        jobs = workflow["jobs"]
        job = jobs["deploy"]

        # Every push of every branch runs: the default branch's name is not written
        # here.
        assert (
            workflow["on"]["push"] is None or "branches" not in workflow["on"]["push"]
        )
        # After every job a push runs: not the pull requests' contract job, which a
        # push skips (and a skipped need would skip the deploy).
        pushed = {n for n, j in jobs.items() if "'pull_request'" not in j.get("if", "")}
        assert jobs.keys() - pushed == {"contract"}
        assert sorted(job["needs"]) == sorted(pushed - {"deploy", "integration"})
        # Pushes to the default branch, whatever it is called, once the role is set.
        condition = GitHubExpression(job["if"])
        for run_kind, contexts, deploys in RUNS:
            assert condition(run_contexts(*contexts)) is deploys, run_kind

        assert workflow["permissions"] == {}
        # actions: read lets the download find the build job's upload through
        # GitHub's REST API, from a re-run too
        # (test_rollback_redeploys_a_build_as_old_as_promised).
        assert job["permissions"] == {
            "actions": "read",
            "contents": "read",
            "id-token": "write",
        }
        for name, other in jobs.items():
            if name != "deploy":
                assert "id-token" not in other["permissions"], name

        # A workflow-level group would cancel a running deploy when a newer push
        # arrives.
        assert "concurrency" not in workflow
        assert job["concurrency"]["cancel-in-progress"] is False
        contexts = set(
            re.findall(r"\$\{\{\s*([\w.]+)\s*\}\}", job["concurrency"]["group"])
        )
        assert contexts <= {"github.workflow"}, "one group for every run's deploy"
        for name, other in jobs.items():
            if name != "deploy" and "concurrency" in other:
                assert other["concurrency"]["group"] != job["concurrency"]["group"], (
                    name
                )

        checkout, _ = step_using(job, "actions/checkout")
        download, _ = step_using(job, "actions/download-artifact")
        install, _ = step_running(job, "requirements-sam.txt")
        credentials, configure = step_using(
            job, "aws-actions/configure-aws-credentials"
        )
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

    check_each(bake.alike(github_combinations(scope), [WORKFLOW]), check)


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


@pytest.mark.parametrize("scope", SCOPES)
def test_deploy_page_names_every_variable_the_workflow_reads(bake, scope):
    def check(project: Path, answers: dict) -> None:
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

    def check_readme(project: Path, answers: dict) -> None:
        # The README keeps a pointer to the page, not its text.
        readme = (project / "README.md").read_text(encoding="utf-8")
        assert "](docs/deploy.md)" in readme
        assert "gh variable set" not in readme

    combinations = github_combinations(scope)
    check_each(bake.alike(combinations, [WORKFLOW, PAGE, ROLE]), check)
    check_each(bake.each(combinations), check_readme)
