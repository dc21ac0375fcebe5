"""What the deploy role's permissions reach (deploy-role.yaml, ci=github): every
granted action tried on this stack's resources and on others' (a sibling stack, the
role's own stack, another team's), each hostile request refused, each needed one
allowed; and the permissions boundary the function's role is created under."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.deploy_role import (
    ACCOUNT,
    REGION,
    ROLE,
    deployed_parameters,
    load_role,
    role_policy_statements,
    stack_name,
    transform_arn,
)
from support.documents import load_cfn
from support.github import WORKFLOW, deploy_job, github_combinations, step_running
from support.iam import BASIC_EXECUTION, allows, policy_actions
from support.renders import SCOPES, check_each
from support.shared import file_digest

OTHER_ACCOUNT = "210987654321"
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
            ]
            # A transform template.yaml does not use (it would include a template
            # snippet from S3): monitoring's and SAM's are test_monitoring's.
            + [(transform_arn(REGION, "AWS::Include"), {})],
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


@pytest.mark.parametrize("scope", SCOPES)
def test_role_reaches_only_its_stacks_resources(bake, scope):
    def check(project: Path, answers: dict) -> None:
        assert verdicts[file_digest(project / ROLE)] == []
        stack = load_role(project)["Parameters"]["ApplicationStackName"]["Default"]
        assert stack == stack_name(project)
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

    combinations = github_combinations(scope)
    verdicts = bake.verdicts(ROLE, combinations, reach_verdict)
    check_each(
        bake.alike(
            combinations,
            [ROLE, "samconfig.toml", "template.yaml", WORKFLOW],
        ),
        check,
    )


@pytest.mark.parametrize("scope", SCOPES)
def test_function_boundary_allows_what_the_function_needs_only(bake, scope):
    """The boundary caps whatever a deploy attaches to the function's role: its log
    group's writes{, X-Ray's writes}, nothing else."""

    def check(project: Path, answers: dict) -> None:
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
        sibling = f"arn:aws:logs:{REGION}:{ACCOUNT}:" + log_stream.format(
            f"{stack}-prod"
        )
        assert allows(statements, "logs:PutLogEvents", own, {}, parameters)
        assert not allows(statements, "logs:PutLogEvents", sibling, {}, parameters)

    check_each(
        bake.alike(github_combinations(scope), [ROLE, "samconfig.toml"], ["tracing"]),
        check,
    )


def test_role_tags_only_what_sam_and_cloudformation_give(bake, sam_transform):
    """The tag keys the role lets a deploy put on the function and its role
    (SAM_TAG_KEYS, beside CloudFormation's own aws:cloudformation:* tags) are the
    ones SAM gives them: template.yaml after the transform, each distinct one of
    the quick subset."""
    renderings = bake.distinct("template.yaml", github_combinations("quick"))
    tagged = set()
    for rendering in renderings:
        resources = sam_transform(rendering.path)["Resources"]
        for name, resource in resources.items():
            if resource["Type"] in ("AWS::IAM::Role", "AWS::Lambda::Function"):
                tags = resource["Properties"].get("Tags", [])
                tagged.add((name, tuple(sorted(tag["Key"] for tag in tags))))
    assert len(renderings) > 1
    assert tagged == {
        ("HelloWorldFunction", tuple(SAM_TAG_KEYS)),
        ("HelloWorldFunctionRole", tuple(SAM_TAG_KEYS)),
    }
