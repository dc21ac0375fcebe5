"""The deploy role's trust policy (deploy-role.yaml, ci=github), evaluated against the
OIDC token the deploy job gets and the tokens of hostile jobs, in both of GitHub's
subject formats; and docs/deploy.md's commands, run as written, make a role that
trusts a new repository's deploy job."""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

import pytest

from support.deploy_role import PAGE, ROLE, load_role, role_parameters, trust_statement
from support.documents import load_cfn
from support.github import (
    GITHUB,
    WORKFLOW,
    deploy_job,
    environment_name,
    github_combinations,
    github_token,
    step_using,
)
from support.iam import conditions_hold
from support.markdown import page_block
from support.processes import bash
from support.renders import SCOPES, baked_project, check_each
from support.shared import file_digest


def trusts(statement: dict, claims: dict[str, str], parameters: dict) -> bool:
    """Whether the statement's conditions accept a GitHub token with these claims
    (STS: GitHub's claims are condition keys token.actions.githubusercontent.com:*)."""
    for pairs in statement["Condition"].values():
        for key in pairs:
            assert key.startswith("token.actions.githubusercontent.com:"), key
    context = {f"token.actions.githubusercontent.com:{k}": v for k, v in claims.items()}
    return conditions_hold(statement["Condition"], context, parameters)


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


@pytest.mark.parametrize("scope", SCOPES)
def test_role_trusts_the_deploy_jobs_token_only(bake, scope):
    def check(project: Path, answers: dict) -> None:
        role = load_role(project)
        job = deploy_job(project)
        assert role["Parameters"]["GitHubEnvironment"]["Default"] == environment_name(
            job
        )

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
        assert verdicts[file_digest(project / ROLE)] == []
        # The workflow file the trust names is this workflow.
        workflow_ref = statement["Condition"]["StringEquals"][
            "token.actions.githubusercontent.com:job_workflow_ref"
        ]["Fn::Sub"]
        assert workflow_ref.endswith(f"/{WORKFLOW}@refs/heads/${{GitHubDefaultBranch}}")

    combinations = github_combinations(scope)
    verdicts = bake.verdicts(ROLE, combinations, trust_verdict)
    check_each(bake.alike(combinations, [ROLE, WORKFLOW]), check)


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
