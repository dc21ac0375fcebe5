"""The rendered templates start secure: checkov (in its own environment, see
noxfile.py) finds no failed check in template.yaml or deploy-role.yaml, every check
they skip says why, cfn-lint passes the role template (template.yaml's is
test_generation.py's), the function's role grants no wildcard action, the API takes
TLS 1.2 or later and the function's log group outlives the stack.

checkov runs once per distinct template this run's security tests render. Missing
checkov skips the checkov test locally and fails it in CI (CI=true).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matrix import combination_id, matrix_params, quick_matrix
from support.deploy_role import ROLE
from support.github import github_combinations
from support.iam import BASIC_EXECUTION, XRAY_WRITE, policy_actions
from support.linters import assert_nothing_unjustified
from support.renders import (
    SCOPES,
    baked_project,
    check_each,
    scope_matrix,
    session_answers,
)

COMBINATIONS = matrix_params()


@pytest.fixture(scope="session")
def checkov_results(request, bake, checkov_scan):
    """results(path): checkov's checks of that rendered template. checkov runs once
    per distinct template.yaml and deploy-role.yaml of this run's checkov tests, all
    in one batch the workers share out: a worker starts checkov (seconds each
    time) once for both kinds of template."""
    rendered = bake.render_all(session_answers(request, "checkov_results"))
    assert all(r.project_path for r in rendered), "a combination failed to render"
    templates = [r.project_path / name for r in rendered for name in TEMPLATES]
    checkov_scan.prefetch(path for path in templates if path.is_file())
    return checkov_scan


TEMPLATES = ("template.yaml", ROLE)


@pytest.mark.parametrize("scope", SCOPES)
def test_checkov_finds_nothing_unjustified(bake, checkov_results, scope):
    def check(project: Path, answers: dict) -> None:
        assert_nothing_unjustified(checkov_results(project / "template.yaml"))

    check_each(bake.alike(scope_matrix(scope), ["template.yaml"]), check)


@pytest.mark.parametrize(
    "answers",
    [pytest.param(a, id=combination_id(a)) for a in quick_matrix()],
)
def test_function_role_has_no_wildcard_actions(bake, sam_transform, answers):
    project = baked_project(bake, answers)
    resources = sam_transform(project / "template.yaml")["Resources"]

    (role,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    expected = [BASIC_EXECUTION] + ([XRAY_WRITE] if answers["tracing"] else [])
    assert role["Properties"]["ManagedPolicyArns"] == expected
    assert "Policies" not in role["Properties"]
    actions = policy_actions(resources)
    assert "sts:AssumeRole" in actions
    assert [a for a in actions if "*" in a] == []


# API Gateway's security policies for REST APIs (developer guide, "Security policies
# for REST APIs in API Gateway"): TLS_1_0 and TLS_1_2 are the legacy ones, and any
# SecurityPolicy_* value an enhanced one that also needs EndpointAccessMode. cfn-lint
# takes any string there.
TLS_1_2_OR_LATER = re.compile(r"TLS_1_2|SecurityPolicy_TLS1[23]_\w+")


@pytest.mark.parametrize("scope", SCOPES)
def test_api_takes_tls_1_2_or_later_and_the_log_group_outlives_the_stack(
    bake, sam_transform, scope
):
    """As CloudFormation gets it (after the SAM transform): the REST API's minimum
    TLS version, and the function's log group kept on deletion and replacement."""

    def check(project: Path, answers: dict) -> None:
        resources = sam_transform(project / "template.yaml")["Resources"]
        (api,) = [
            r for r in resources.values() if r["Type"] == "AWS::ApiGateway::RestApi"
        ]
        policy = api["Properties"]["SecurityPolicy"]
        assert TLS_1_2_OR_LATER.fullmatch(policy), policy
        if policy.startswith("SecurityPolicy_"):
            assert "EndpointAccessMode" in api["Properties"]
        (logs,) = [r for r in resources.values() if r["Type"] == "AWS::Logs::LogGroup"]
        assert logs["DeletionPolicy"] == logs["UpdateReplacePolicy"] == "Retain"

    check_each(bake.alike(github_combinations(scope), ["template.yaml"]), check)


# --- linters on the role template, once per distinct rendering ---


@pytest.fixture(scope="session")
def role_cfn_lint(request, bake, cfn_lint):
    """cfn-lint as `sam validate --lint` runs it, once per distinct role template in
    batches the workers share out (the run's results, as for template.yaml)."""
    combinations = session_answers(request, "role_cfn_lint")
    cfn_lint.prefetch(rendering.path for rendering in bake.distinct(ROLE, combinations))
    return cfn_lint


@pytest.mark.parametrize("scope", SCOPES)
def test_role_template_passes_cfn_lint(bake, role_cfn_lint, scope):
    def check(project: Path, answers: dict) -> None:
        assert role_cfn_lint(project / ROLE) == []

    check_each(bake.alike(github_combinations(scope), [ROLE]), check)


@pytest.mark.parametrize("scope", SCOPES)
def test_role_template_passes_checkov(bake, checkov_results, scope):
    def check(project: Path, answers: dict) -> None:
        assert_nothing_unjustified(checkov_results(project / ROLE))

    check_each(bake.alike(github_combinations(scope), [ROLE]), check)
