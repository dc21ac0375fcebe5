"""The rendered template.yaml starts secure: checkov (in its own environment, see
noxfile.py) finds no failed check, every check the template skips says why, and the
function's role grants no wildcard action.

checkov runs once per distinct template this run's security tests render. Missing
checkov skips the checkov test locally and fails it in CI (CI=true).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from conftest import baked_project, isolated_tool, run, session_answers
from matrix import combination_id, matrix_params, quick_matrix
from shared import SharedResults, run_directory

COMBINATIONS = matrix_params()


def checkov(templates: dict[str, Path]) -> dict[str, dict[str, list[dict]]]:
    """checkov's failed, skipped and passed checks for each template, one process
    for all of them; keyed like `templates`."""
    owners = {path.resolve(): key for key, path in templates.items()}
    scanned = run(
        [
            isolated_tool("checkov"),
            # Offline: no guideline download, no upload, no network at all.
            "--skip-download",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--file",
            *sorted(map(str, templates.values())),
        ]
    )
    # Exit 1 means failed checks: they are reported per template below.
    assert scanned.returncode in (0, 1), scanned.stdout[-2000:] + scanned.stderr
    reports = json.loads(scanned.stdout)
    results = {
        key: {"failed_checks": [], "skipped_checks": [], "passed_checks": []}
        for key in templates
    }
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["check_type"] == "cloudformation"
        assert report["results"]["parsing_errors"] == []
        for outcome in ("failed_checks", "skipped_checks", "passed_checks"):
            for check in report["results"][outcome]:
                key = owners[Path(check["file_abs_path"]).resolve()]
                results[key][outcome].append(check)
    return results


@pytest.fixture(scope="session")
def checkov_results(request, bake, tmp_path_factory):
    """results(answers): checkov's checks of that rendering's template.yaml. checkov
    runs once per distinct template of this run's security tests, in batches the
    workers share out."""
    isolated_tool("checkov")  # skips (locally) or fails (CI) before any work
    rendered = bake.render_all(session_answers(request, "checkov_results"))
    assert all(r.project_path for r in rendered), "a combination failed to render"
    results = SharedResults(run_directory(tmp_path_factory) / "checkov", checkov)
    results.prefetch(r.project_path / "template.yaml" for r in rendered)
    return lambda answers: results(baked_project(bake, answers) / "template.yaml")


def assert_nothing_unjustified(result: dict[str, list[dict]]) -> None:
    """checkov scanned something, failed nothing, and every skip says why."""
    assert result["passed_checks"], "checkov scanned nothing"
    assert [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in result["failed_checks"]
    ] == []
    for check in result["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20, f"{check['check_id']} is skipped without a reason"


@pytest.mark.parametrize("answers", COMBINATIONS)
def test_checkov_finds_nothing_unjustified(checkov_results, answers):
    assert_nothing_unjustified(checkov_results(answers))


# AWS managed policies the SAM-generated role may carry. Their actions are explicit
# (no wildcard): logs:CreateLogGroup, logs:CreateLogStream, logs:PutLogEvents; and
# xray:PutTraceSegments, xray:PutTelemetryRecords, xray:GetSampling* (three named).
BASIC_EXECUTION = "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"
XRAY_WRITE = "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"


def transformed(template: Path) -> dict:
    """template.yaml as CloudFormation, after the SAM transform (no AWS calls)."""
    from samcli.yamlhelper import yaml_parse
    from samtranslator.translator.transform import transform

    document = yaml_parse(template.read_text(encoding="utf-8"))
    # The transform wants deployed code: any S3 URI will do.
    function = document["Resources"]["HelloWorldFunction"]["Properties"]
    function["CodeUri"] = "s3://bucket/code.zip"

    class NoManagedPolicyLookups:
        def load(self):
            raise AssertionError("the template names no managed policy to look up")

    return transform(document, {}, NoManagedPolicyLookups())


def policy_actions(node) -> list[str]:
    """Every IAM Action anywhere in a CloudFormation document."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key in ("Action", "NotAction"):
                found.extend([value] if isinstance(value, str) else value)
            else:
                found.extend(policy_actions(value))
        return found
    if isinstance(node, list):
        return [action for item in node for action in policy_actions(item)]
    return []


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
