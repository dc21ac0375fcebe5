"""Reading the generated deploy-role.yaml: its trust and permission statements,
its parameters as CloudFormation resolves them, the stack it is scoped to
(samconfig.toml's), and what SAM CLI's deploy itself calls."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

from support.documents import load_cfn

ROLE = "deploy-role.yaml"
PAGE = "docs/deploy.md"


def transform_arn(region: str, transform: str) -> str:
    """The ARN a change set through this transform (a Transform entry of the
    template) is authorized on, e.g. ...:aws:transform/Serverless-2016-10-31."""
    name = transform.removeprefix("AWS::")
    return f"arn:aws:cloudformation:{region}:aws:transform/{name}"


def load_role(project: Path) -> dict:
    return load_cfn(project / ROLE)


def stack_name(project: Path) -> str:
    config = tomllib.loads((project / "samconfig.toml").read_text(encoding="utf-8"))
    return config["default"]["global"]["parameters"]["stack_name"]


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


# The account and region the role's policies are evaluated for (deployed_parameters).
ACCOUNT, REGION = "123456789012", "eu-west-1"


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
