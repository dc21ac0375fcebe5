"""The rendered template.yaml starts secure: checkov (in its own environment, see
noxfile.py) finds no failed check, every check the template skips says why, and the
function's role grants no wildcard action.

checkov runs once per distinct template this run's security tests render. Missing
checkov skips the checkov test locally and fails it in CI (CI=true).
"""

from __future__ import annotations

import pytest

from helpers import (
    assert_nothing_unjustified,
    baked_project,
    policy_actions,
    session_answers,
    transformed,
)
from matrix import combination_id, matrix_params, quick_matrix

COMBINATIONS = matrix_params()


@pytest.fixture(scope="session")
def checkov_results(request, bake, checkov_scan):
    """results(answers): checkov's checks of that rendering's template.yaml. checkov
    runs once per distinct template of this run's security tests, in batches the
    workers share out."""
    rendered = bake.render_all(session_answers(request, "checkov_results"))
    assert all(r.project_path for r in rendered), "a combination failed to render"
    checkov_scan.prefetch(r.project_path / "template.yaml" for r in rendered)
    return lambda answers: checkov_scan(baked_project(bake, answers) / "template.yaml")


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_checkov_finds_nothing_unjustified(checkov_results, answers):
    assert_nothing_unjustified(checkov_results(answers))


# AWS managed policies the SAM-generated role may carry. Their actions are explicit
# (no wildcard): logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents; and
# xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSampling* (three named).
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"


@pytest.mark.parametrize(
    "answers",
    [pytest.param(a, id=combination_id(a)) for a in quick_matrix()],
)
def test_function_role_has_no_wildcard_actions(bake, monkeypatch, answers):
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    resources = transformed(baked_project(bake, answers) / "template.yaml")["Resources"]

    (role,) = [r for r in resources.values() if r["Type"] == "AWS::IAM::Role"]
    expected = [BASIC_EXECUTION] + ([XRAY_WRITE] if answers["tracing"] else [])
    assert role["Properties"]["ManagedPolicyArns"] == expected
    assert "Policies" not in role["Properties"]
    actions = policy_actions(resources)
    assert "sts:AssumeRole" in actions
    assert [a for a in actions if "*" in a] == []
