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

import json
import os
import re
import threading
import tomllib
from fnmatch import fnmatchcase
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import yaml
from samcli.yamlhelper import yaml_parse

from helpers import (
    assert_nothing_unjustified,
    baked_project,
    cfn_lint_templates,
    checkov,
    digest,
    file_digest,
    load_workflow,
    policy_actions,
    run,
    session_answers,
    tool,
    transformed,
    working_copy,
)
from matrix import DEFAULTS, POWERTOOLS_VERSION, matrix_params, values

GITHUB = [p for p in matrix_params() if p.values[0]["ci"] == "github"]
LAYER = [p for p in GITHUB if p.values[0]["powertools_source"] == "layer"]
NO_CI = [p for p in matrix_params() if p.values[0]["ci"] == "none"]
WORKFLOW = ".github/workflows/ci.yml"
ROLE = "deploy-role.yaml"
DELIVERY_FILES = (".github", ROLE, "requirements-sam.txt")


# --- reading what was rendered ---


def load_role(project: Path) -> dict:
    return yaml_parse((project / ROLE).read_text(encoding="utf-8"))


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
    role = yaml_parse((project / "deploy-role.yaml").read_text(encoding="utf-8"))
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
    assert sorted(job["needs"]) == sorted(set(jobs) - {"deploy"})
    # Pushes to the default branch, whatever it is called, once the role is set.
    condition = GitHubExpression(job["if"])
    for run_kind, contexts, deploys in RUNS:
        assert condition(run_contexts(*contexts)) is deploys, run_kind

    assert workflow["permissions"] == {}
    assert job["permissions"] == {"contents": "read", "id-token": "write"}
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
    credentials, configure = step_using(job, "aws-actions/configure-aws-credentials")
    build, _ = step_running(job, "sam build")
    deploy, deploy_step = step_running(job, "sam deploy")
    tests, _ = step_running(job, "pytest tests/integration")
    assert checkout < credentials < build < deploy < tests
    assert configure["with"] == {
        "role-to-assume": "${{ vars.AWS_DEPLOY_ROLE_ARN }}",
        "aws-region": "${{ vars.AWS_DEPLOY_REGION }}",
    }
    command = " ".join(deploy_step["run"].split())
    for flag in ("--no-confirm-changeset", "--no-fail-on-empty-changeset"):
        assert flag in command
    assert "--stack-name" not in command, "the stack name is samconfig.toml's"


@pytest.mark.parametrize("answers", GITHUB)
def test_readme_names_every_variable_the_workflow_reads(bake, answers):
    project = baked_project(bake, answers)
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")
    readme = (project / "README.md").read_text(encoding="utf-8")
    variables = set(re.findall(r"vars\.(\w+)", workflow))
    assert variables == {
        "AWS_DEPLOY_ROLE_ARN",
        "AWS_DEPLOY_REGION",
        "AWS_DEPLOY_BUCKET",
    }
    assert set(re.findall(r"gh variable set (\w+)", readme)) == variables
    outputs = load_role(project)["Outputs"]
    assert {o["Description"].split()[-1] for o in outputs.values()} <= variables


# --- the role's trust policy ---


def substitute(value, parameters: dict[str, str]):
    """A CloudFormation string, Fn::Sub resolved with these parameters."""
    if isinstance(value, dict):
        (function, argument), *_ = value.items()
        assert function == "Fn::Sub", value
        return re.sub(r"\$\{([\w:.]+)\}", lambda m: parameters[m[1]], argument)
    return value


def trusts(statement: dict, claims: dict[str, str], parameters: dict) -> bool:
    """Whether the statement's conditions accept a GitHub token with these claims."""
    for operator, pairs in statement["Condition"].items():
        for key, expected in pairs.items():
            provider, claim = key.rsplit(":", 1)
            assert provider == "token.actions.githubusercontent.com", key
            expected = expected if isinstance(expected, list) else [expected]
            patterns = [substitute(e, parameters) for e in expected]
            if operator == "StringEquals":
                accepted = claims[claim] in patterns
            elif operator == "StringLike":
                accepted = any(fnmatchcase(claims[claim], p) for p in patterns)
            else:
                raise AssertionError(
                    f"condition operator not evaluated here: {operator}"
                )
            if not accepted:
                return False
    return True


@pytest.mark.parametrize("answers", GITHUB)
def test_role_trusts_the_deploy_jobs_token_only(bake, answers):
    project = baked_project(bake, answers)
    role = load_role(project)
    parameters = {
        name: spec.get("Default", "") for name, spec in role["Parameters"].items()
    }
    parameters |= {"GitHubOwner": "octo-org", "GitHubRepository": "octo-repo"}
    job = deploy_job(project)
    environment = environment_name(job)
    assert parameters["GitHubEnvironment"] == environment

    provider = role["Resources"]["GitHubOidcProvider"]["Properties"]
    assert provider["Url"] == "https://token.actions.githubusercontent.com"
    assert provider["ClientIdList"] == ["sts.amazonaws.com"]
    resource = role["Resources"]["DeployRole"]
    (statement,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
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
    audience = "sts.amazonaws.com"
    # The subject of a job with `environment:` (GitHub's OIDC reference).
    job_token = {
        "aud": audience,
        "sub": f"repo:octo-org/octo-repo:environment:{environment}",
    }
    assert trusts(statement, job_token, parameters)
    for other in (
        "repo:octo-org/octo-repo:ref:refs/heads/main",  # a job without the environment
        "repo:octo-org/octo-repo:pull_request",
        "repo:octo-org/octo-repo:environment:staging",
        f"repo:octo-org/another-repo:environment:{environment}",
        f"repo:octo-org/octo-repo-2:environment:{environment}",
    ):
        assert not trusts(statement, {"aud": audience, "sub": other}, parameters), other
    assert not trusts(
        statement, {**job_token, "aud": "https://github.com/octo-org"}, parameters
    )


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
    "iam:DeleteRolePermissionsBoundary": "Role PermissionsBoundary (not set)",
    "iam:PutRolePermissionsBoundary": "Role PermissionsBoundary (not set)",
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
}
# Needed by the PowertoolsLayerArn parameter: CloudFormation reads Powertools'
# public SSM parameter with the caller's credentials.
LAYER_PARAMETER_READ = "ssm:GetParameters"
# Actions IAM grants only on Resource "*" (no resource type in AWS's service
# authorization reference: test_only_on_any_resource_is_what_iam_says), and why
# the role needs each.
ONLY_ON_ANY_RESOURCE = {
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


def handler_permissions(resource_type: str) -> set[str]:
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    schema = PROVIDER_SCHEMA_MANAGER.get_resource_schema("us-east-1", resource_type)
    handlers = schema.schema["handlers"]
    return {p for h in HANDLERS if h in handlers for p in handlers[h]["permissions"]}


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
        types = {resource["Type"] for resource in resources.values()}
        needed = {
            permission
            for resource_type in types
            for permission in handler_permissions(resource_type)
            if not not_needed(resource_type, permission, answers)
        }
        needed |= SAM_DEPLOY_CALLS
        if answers["powertools_source"] == "layer":
            needed.add(LAYER_PARAMETER_READ)
        document = yaml_parse(role.read_text(encoding="utf-8"))
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


@pytest.mark.parametrize("answers", GITHUB)
def test_role_is_scoped_to_the_stack_samconfig_names(bake, answers):
    project = baked_project(bake, answers)
    role = load_role(project)
    assert role["Parameters"]["ApplicationStackName"]["Default"] == stack_name(project)
    (policy,) = role["Resources"]["DeployRole"]["Properties"]["Policies"]
    for statement in policy["PolicyDocument"]["Statement"]:
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            text = resource if isinstance(resource, str) else resource["Fn::Sub"]
            service = statement["Sid"]
            if text.startswith(
                ("arn:${AWS::Partition}:iam:", "arn:${AWS::Partition}:lambda")
            ):
                if "017000801446" not in text:  # Powertools' public layer account
                    assert "${ApplicationStackName}-*" in text, service
            if ":cloudformation:" in text and ":stack/" in text:
                assert ":stack/${ApplicationStackName}/*" in text, service


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


# --- linters on the role template, once per distinct rendering ---


@pytest.fixture(scope="session")
def role_templates(request, bake) -> dict[str, Path]:
    combinations = session_answers(request, "role_templates")
    return {r.digest: r.path for r in bake.distinct(ROLE, combinations)}


@pytest.fixture(scope="session")
def role_cfn_lint(role_templates) -> dict[str, list[str]]:
    """cfn-lint as `sam validate --lint` runs it, once per distinct role template."""
    return cfn_lint_templates(role_templates)


@pytest.fixture(scope="session")
def role_checkov(role_templates) -> dict[str, dict[str, list[dict]]]:
    """checkov as test_template_security runs it, once per distinct role template."""
    return checkov(role_templates)


@pytest.mark.parametrize("answers", GITHUB)
def test_role_template_passes_cfn_lint(bake, role_templates, role_cfn_lint, answers):
    assert role_cfn_lint[file_digest(baked_project(bake, answers) / ROLE)] == []


@pytest.mark.parametrize("answers", GITHUB)
def test_role_template_passes_checkov(bake, role_templates, role_checkov, answers):
    assert_nothing_unjustified(
        role_checkov[file_digest(baked_project(bake, answers) / ROLE)]
    )


# --- Dependabot ---


@pytest.mark.parametrize("answers", GITHUB)
def test_dependabot_updates_every_pin_file_and_action_weekly_grouped(bake, answers):
    project = baked_project(bake, answers)
    config = yaml.safe_load((project / ".github/dependabot.yml").read_text("utf-8"))
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


@pytest.mark.parametrize("answers", GITHUB)
def test_sam_cli_version_comes_from_the_file_dependabot_updates(bake, answers):
    project = baked_project(bake, answers)
    workflow = (project / WORKFLOW).read_text(encoding="utf-8")
    assert "aws-sam-cli==" not in workflow.replace("'aws-sam-cli==[0-9.]*'", "")
    requirements = (project / "requirements-sam.txt").read_text(encoding="utf-8")
    (pin,) = re.findall(r"^aws-sam-cli==[\d.]+$", requirements, re.MULTILINE)
    for job in load_workflow(project / WORKFLOW)["jobs"].values():
        _, step = step_running(job, "pipx install")
        (line,) = [x for x in step["run"].splitlines() if "pipx install" in x]
        spec = line.strip().removeprefix("pipx install ")
        shown = bash(f"printf '%s' {spec}", project, base_env())
        assert shown.returncode == 0, shown.stderr
        assert shown.stdout == pin


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
    accepts uploads, describes the stack as deployed before (from the same template:
    `parameters`), and refuses the change set, so that `sam deploy` stops right
    after the calls that show what it would deploy, and how."""

    calls: list[dict]
    parameters: list[str]
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
        self.answer(404)

    def do_PUT(self):
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        bucket, _, key = urlsplit(self.path).path.lstrip("/").partition("/")
        self.calls.append({"action": "s3:PutObject", "bucket": bucket, "key": key})
        self.answer(200, headers={"ETag": '"0"'})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        form = {k: v[0] for k, v in parse_qs(self.rfile.read(length).decode()).items()}
        action = form.pop("Action")
        self.calls.append({"action": f"cloudformation:{action}", **form})
        if action == "DescribeStacks":
            name = form["StackName"]
            self.result(
                action,
                f"<Stacks><member><StackName>{name}</StackName><StackId>arn:aws:"
                f"cloudformation:eu-west-1:123456789012:stack/{name}/1</StackId>"
                "<StackStatus>UPDATE_COMPLETE</StackStatus><CreationTime>"
                "2026-01-01T00:00:00Z</CreationTime></member></Stacks>",
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


@pytest.fixture
def endpoint():
    """A RecordingEndpoint on a free port: its URL and the class to configure."""
    handler = type("Handler", (RecordingEndpoint,), {"calls": [], "parameters": []})
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


@pytest.mark.parametrize("answers", SOURCES)
def test_deploy_step_updates_samconfigs_stack_from_the_bucket(
    bake, endpoint, tmp_path, answers
):
    """The deploy step's own script, on a stack deployed before: the artifacts go to
    the bucket of AWS_DEPLOY_BUCKET, the change set to samconfig.toml's stack with
    its capabilities, the layer's parameter as template.yaml names it (sam deploy
    would otherwise reuse the deployed value), and each call is one the role allows."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    template = yaml_parse((project / "template.yaml").read_text(encoding="utf-8"))
    recorder.parameters = list(template.get("Parameters", {}))
    _, step = step_running(deploy_job(project), "sam deploy")
    env = {**aws_env(url, tmp_path), "AWS_DEPLOY_BUCKET": "artifact-bucket"}
    deployed = bash(step["run"], project, env)

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
    if "PowertoolsLayerArn" in recorder.parameters:
        layer = f"/aws/service/powertools/python/{answers['architecture']}"
        assert (
            given["PowertoolsLayerArn"]
            == f"{layer}/{answers['runtime']}/{POWERTOOLS_VERSION}"
        )
    made = {c["action"] for c in calls}
    assert made <= SAM_DEPLOY_CALLS
    assert made <= set(policy_actions(load_role(project)["Resources"]))


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_integration_step_tests_samconfigs_stack_and_fails_with_it(
    bake, endpoint, tmp_path, answers
):
    """The integration tests run (not skip) against samconfig.toml's stack, and
    their failure fails the step: here the endpoint's stack has no outputs."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    _, step = step_running(deploy_job(project), "pytest tests/integration")
    tested = bash(step["run"], project, aws_env(url, tmp_path))

    assert tested.returncode != 0, tested.stdout
    assert "skipped" not in tested.stdout.splitlines()[-1], tested.stdout
    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", stack_name(project))
    }


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_integration_step_follows_a_stack_name_sam_deploy_guided_saved(
    bake, endpoint, tmp_path, answers
):
    """`sam deploy --guided` saves its answers in samconfig.toml's deploy section,
    which sam deploy prefers to the global one: the tests follow it there."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    config = project / "samconfig.toml"
    text = config.read_text(encoding="utf-8").replace(
        "[default.deploy.parameters]\n",
        '[default.deploy.parameters]\nstack_name = "chosen-at-guided-deploy"\n',
    )
    config.write_text(text, encoding="utf-8")
    _, step = step_running(deploy_job(project), "pytest tests/integration")
    bash(step["run"], project, aws_env(url, tmp_path))

    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", "chosen-at-guided-deploy")
    }
