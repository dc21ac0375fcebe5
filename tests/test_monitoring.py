"""The monitoring option: what template.yaml deploys for it, per option over the full
matrix (once per distinct template.yaml), the names CloudFormation and SAM give what
the alarms read, the deploy role's rights to exactly these resources, and the text
that tells a user what fires, where it goes and what to run first.

That the alarm on the function's own metric reads what the function really emits is
checked in test_lambda_runtime.py, against the built function run by Lambda's
runtime client.
"""

from __future__ import annotations

import functools
import itertools
import json
import re
from fnmatch import fnmatchcase
from pathlib import Path

import pytest

from matrix import DEFAULTS, combination_id, full_matrix, quick_matrix
from support.documents import load_cfn
from support.renders import baked_project
from support.template import PROJECT_TEMPLATE

MONITORING_TYPES = {
    "AWS::SNS::Topic",
    "AWS::SNS::TopicPolicy",
    "AWS::CloudWatch::Alarm",
    "AWS::CloudWatch::Dashboard",
    "AWS::Logs::QueryDefinition",
}
# What each alarm watches: (namespace, metric, statistic, period, datapoints to
# alarm, evaluation periods, comparison, threshold). The duration threshold is
# checked against the function's Timeout instead.
AWS_ALARMS = {
    "function-errors": ("AWS/Lambda", "Errors", "Sum", 60, 1, 1, 0),
    "function-throttles": ("AWS/Lambda", "Throttles", "Sum", 60, 5, 5, 0),
    "function-duration": ("AWS/Lambda", "Duration", "p99", 60, 5, 5, None),
    # AWS's recommended 5XXError alarm (Amazon CloudWatch User Guide, "Recommended
    # alarms", https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/
    # Best_Practice_Recommended_Alarms_AWS_Services.html, Amazon API Gateway).
    "api-5xx": ("AWS/ApiGateway", "5XXError", "Average", 60, 3, 3, 0.05),
    "api-latency": ("AWS/ApiGateway", "Latency", "p99", 60, 5, 5, 2500),
}
CUSTOM_ALARM = "unhandled-errors"
QUERIES = {"errors", "cold-starts", "one-request"}
DASHBOARD = "AWS::CloudWatch::Dashboard"
LANGUAGE_EXTENSIONS = "AWS::LanguageExtensions"

STACK, REGION, ACCOUNT = "my-stack", "eu-west-1", "123456789012"
NAMES = {
    "AWS::StackName": STACK,
    "AWS::Region": REGION,
    "AWS::AccountId": ACCOUNT,
    "AWS::Partition": "aws",
    "ApplicationStackName": STACK,
}


def sub(value) -> str:
    """A name given as !Sub "...${AWS::StackName}...", resolved for STACK."""
    (text,) = value.values()
    return re.sub(r"\$\{([\w:]+)\}", lambda m: NAMES[m[1]], text)


def of_type(template: dict, kind: str) -> dict[str, dict]:
    return {k: r for k, r in template["Resources"].items() if r["Type"] == kind}


def alarms(template: dict) -> dict[str, dict]:
    """Alarm properties by the alarm's name without the stack's prefix."""
    found = {}
    for resource in of_type(template, "AWS::CloudWatch::Alarm").values():
        name = sub(resource["Properties"]["AlarmName"])
        assert name.startswith(f"{STACK}-"), name
        found[name.removeprefix(f"{STACK}-")] = resource["Properties"]
    return found


@functools.cache
def expanded(body: str) -> str:
    """SAM CLI's own AWS::LanguageExtensions expansion (what `sam build
    --language-extensions` runs) of a dashboard body given as JSON: the JSON string
    Fn::ToJsonString gives, pseudo parameters resolved for STACK, REGION and
    ACCOUNT, what only a deploy knows (a resource's name or ARN) left as written."""
    from samcli.lib.cfn_language_extensions.sam_integration import (
        expand_language_extensions,
    )

    dashboard = {"Type": DASHBOARD, "Properties": {"DashboardBody": json.loads(body)}}
    template = {"Transform": [LANGUAGE_EXTENSIONS], "Resources": {"D": dashboard}}
    result = expand_language_extensions(template, parameter_values=NAMES, enabled=True)
    return result.expanded_template["Resources"]["D"]["Properties"]["DashboardBody"]


def dashboard_body(template: dict) -> dict:
    """The dashboard's JSON as CloudFormation gives it to CloudWatch: the body
    written in YAML turned into JSON by the language extensions (SAM CLI's copy of
    them, once per distinct body), then each reference to a resource or its
    attribute resolved (a name the template has)."""
    (dashboard,) = of_type(template, DASHBOARD).values()
    body = dashboard["Properties"]["DashboardBody"]
    assert list(body) == ["Fn::ToJsonString"]
    assert template["Transform"][0] == LANGUAGE_EXTENSIONS

    def resource(name: str) -> str:
        assert name.split(".")[0] in template["Resources"], name
        return f"resolved-{name}"

    def resolve(node):
        if isinstance(node, dict) and list(node) == ["Fn::GetAtt"]:
            return resource(".".join(node["Fn::GetAtt"]))
        if isinstance(node, dict) and list(node) == ["Ref"]:
            return resource(node["Ref"])
        if isinstance(node, dict):
            return {key: resolve(value) for key, value in node.items()}
        if isinstance(node, list):
            return [resolve(item) for item in node]
        if isinstance(node, str):  # what a Fn::Sub leaves for a deploy to fill in
            return re.sub(r"\$\{([\w.]+)\}", lambda m: resource(m[1]), node)
        return node

    return resolve(json.loads(expanded(json.dumps(body))))


def check_template(template: dict, answers: dict) -> None:
    resources = template["Resources"]
    kinds = {r["Type"] for r in resources.values()}
    text = json.dumps(template)
    # The language extensions (Fn::ToJsonString, the dashboard's body) only for
    # monitoring, before SAM's transform (CloudFormation processes them in order).
    transforms = template["Transform"]
    assert transforms[-1] == "AWS::Serverless-2016-10-31"
    assert transforms[:-1] == ([LANGUAGE_EXTENSIONS] if answers["monitoring"] else [])
    if not answers["monitoring"]:
        assert kinds & MONITORING_TYPES == set()
        assert "Alarm" not in text and "Dashboard" not in text
        return

    # The topic; who receives the alarms is subscribed by hand (docs/monitoring.md),
    # so no address is a parameter, and the stack subscribes nothing.
    (topic_id, topic), *_ = of_type(template, "AWS::SNS::Topic").items()
    assert sub(topic["Properties"]["TopicName"]) == f"{STACK}-alarms"
    # CloudWatch cannot publish to a topic under alias/aws/sns (AWS re:Post
    # Knowledge Center, https://repost.aws/knowledge-center/cloudwatch-configure-alarm-sns).
    assert "KmsMasterKeyId" not in topic["Properties"]
    assert "Subscription" not in topic["Properties"]
    assert "AWS::SNS::Subscription" not in kinds
    assert not [p for p in template.get("Parameters", {}) if "Email" in p]

    found = alarms(template)
    alarm_ids = sorted(of_type(template, "AWS::CloudWatch::Alarm"))
    assert len(alarm_ids) == len(found)
    # Only the stack's alarms publish, through CloudWatch; every other publisher
    # (anyone in the account) is refused.
    (policy,) = of_type(template, "AWS::SNS::TopicPolicy").values()
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    allow, deny = policy["Properties"]["PolicyDocument"]["Statement"]
    assert allow["Effect"] == "Allow" and deny["Effect"] == "Deny"
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == deny["Action"] == "sns:Publish"
    assert allow["Resource"] == deny["Resource"] == {"Ref": topic_id}
    assert allow["Condition"]["StringEquals"] == {
        "aws:SourceAccount": {"Ref": "AWS::AccountId"}
    }
    sources = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    assert sorted(source["Fn::GetAtt"][0] for source in sources) == alarm_ids
    assert {source["Fn::GetAtt"][1] for source in sources} == {"Arn"}
    assert deny["Principal"] == "*"
    assert deny["Condition"] == {
        "StringNotEquals": {"aws:PrincipalServiceName": "cloudwatch.amazonaws.com"}
    }

    expected = set(AWS_ALARMS) | ({CUSTOM_ALARM} if answers["metrics"] else set())
    assert set(found) == expected
    timeout = resources["HelloWorldFunction"]["Properties"]["Timeout"]
    stage = resources["HelloApi"]["Properties"]["StageName"]
    for name, alarm in found.items():
        assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlarmTopic"}]
        description = alarm["AlarmDescription"]
        assert "\n" not in description and description.endswith("."), name
        assert alarm["ComparisonOperator"] == "GreaterThanThreshold", name
        # A quiet service is not an incident: no data never fires an alarm.
        assert alarm["TreatMissingData"] == "notBreaching", name
        if name == CUSTOM_ALARM:
            continue
        namespace, metric, statistic, period, m, n, threshold = AWS_ALARMS[name]
        assert (alarm["Namespace"], alarm["MetricName"]) == (namespace, metric)
        assert alarm.get("Statistic", alarm.get("ExtendedStatistic")) == statistic
        assert (alarm["Period"], alarm["DatapointsToAlarm"]) == (period, m), name
        assert alarm["EvaluationPeriods"] == n, name
        if name == "function-duration":
            assert alarm["Threshold"] == 0.8 * timeout * 1000
        else:
            assert alarm["Threshold"] == threshold, name
        # This stack's function, this stack's API and stage (names as
        # test_names_are_the_ones_cloudformation_gives checks).
        dimensions = {d["Name"]: d["Value"] for d in alarm["Dimensions"]}
        if namespace == "AWS/Lambda":
            assert dimensions == {"FunctionName": {"Ref": "HelloWorldFunction"}}
        else:
            assert dimensions == {"ApiName": {"Ref": "AWS::StackName"}, "Stage": stage}

    body = dashboard_body(template)
    widgets = body["widgets"]
    assert len(widgets) == 6 + 2 * answers["metrics"] + answers["logging"]
    (alarm_widget,) = [w for w in widgets if w["type"] == "alarm"]
    assert len(alarm_widget["properties"]["alarms"]) == len(found)
    metrics = [
        line
        for w in widgets
        if w["type"] == "metric"
        for line in w["properties"]["metrics"]
    ]
    api = ["ApiName", STACK, "Stage", stage]
    function = ["FunctionName", "resolved-HelloWorldFunction"]
    for line in metrics:
        if isinstance(line[0], dict):  # a Metrics Insights query
            assert answers["metrics"], line
            continue
        namespace, _, *dimensions = [p for p in line if not isinstance(p, dict)]
        assert dimensions == (api if namespace == "AWS/ApiGateway" else function)
    names = {line[1] for line in metrics if isinstance(line[0], str)}
    assert names == {
        "Count",
        "4XXError",
        "5XXError",
        "Latency",
        "Invocations",
        "Errors",
        "Throttles",
        "Duration",
        "ConcurrentExecutions",
    }
    logs = [w for w in widgets if w["type"] == "log"]
    assert len(logs) == answers["logging"]
    for widget in logs:
        assert "SOURCE 'resolved-HelloWorldLogGroup'" in widget["properties"]["query"]

    queries = of_type(template, "AWS::Logs::QueryDefinition").values()
    names = {sub(q["Properties"]["Name"]) for q in queries}
    assert names == ({f"{STACK}/{q}" for q in QUERIES} if answers["logging"] else set())
    for query in queries:
        assert query["Properties"]["LogGroupNames"] == [{"Ref": "HelloWorldLogGroup"}]
        if sub(query["Properties"]["Name"]).endswith("/cold-starts"):
            # What a cold start's REPORT line has (Lambda's SnapStart guide): a
            # restored environment reports "Restore Duration", no init duration.
            text = query["Properties"]["QueryString"]
            restore = "parse @message /Restore Duration: " in text
            assert restore == answers["snapstart"] != ("@initDuration" in text)


SHAPING = ("monitoring", "metrics", "logging")
MIXES = [
    dict(zip(SHAPING, mix, strict=True))
    for mix in itertools.product((True, False), repeat=len(SHAPING))
]


@pytest.mark.parametrize(
    "combinations",
    [pytest.param(quick_matrix(), id="quick")]
    + [
        pytest.param(
            [a for a in full_matrix() if all(a[k] == v for k, v in mix.items())],
            id="full-" + "-".join(k if v else f"no_{k}" for k, v in mix.items()),
            marks=pytest.mark.slow,
        )
        for mix in MIXES
    ],
)
def test_monitoring_resources_per_option(bake, combinations):
    """Every combination's template.yaml (the full matrix in eight parts: the mixes
    of the options that shape these resources), read once per distinct content."""
    renderings = bake.distinct("template.yaml", combinations)
    assert sum(len(r.combinations) for r in renderings) == len(combinations)
    for rendering in renderings:
        answers = rendering.combinations[0]
        for other in rendering.combinations:
            assert [other[k] for k in SHAPING] == [answers[k] for k in SHAPING]
        check_template(load_cfn(rendering.path), answers)


# A combination per mix of what changes the names CloudFormation resolves: SnapStart
# (the API calls an alias), tracing (the API's stage settings), metrics, logging.
NAME_CASES = [
    {**DEFAULTS, "snapstart": snapstart, "metrics": on, "logging": on, "tracing": on}
    for snapstart in (False, True)
    for on in (True, False)
]


@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=combination_id(a)) for a in NAME_CASES]
)
def test_names_are_the_ones_cloudformation_gives(bake, sam_transform, answers):
    """After SAM's transform: the REST API has no Name, so API Gateway names it
    after its OpenAPI title, the stack's name (what ApiName reads); the stage is the
    one the alarms name; HelloWorldFunction is the function itself (Ref gives its
    name; FunctionName metrics cover every version and alias)."""
    path = baked_project(bake, answers) / "template.yaml"
    resources = sam_transform(path)["Resources"]
    (api,) = of_type({"Resources": resources}, "AWS::ApiGateway::RestApi").values()
    assert "Name" not in api["Properties"]
    assert api["Properties"]["Body"]["info"]["title"] == {"Ref": "AWS::StackName"}
    (stage,) = of_type({"Resources": resources}, "AWS::ApiGateway::Stage").values()
    found = alarms({"Resources": resources})
    for name in ("api-5xx", "api-latency"):
        dimensions = {d["Name"]: d["Value"] for d in found[name]["Dimensions"]}
        assert dimensions["ApiName"] == api["Properties"]["Body"]["info"]["title"]
        assert dimensions["Stage"] == stage["Properties"]["StageName"]
    assert resources["HelloWorldFunction"]["Type"] == "AWS::Lambda::Function"
    for name in ("function-errors", "function-throttles", "function-duration"):
        (dimension,) = found[name]["Dimensions"]
        assert dimension == {
            "Name": "FunctionName",
            "Value": {"Ref": "HelloWorldFunction"},
        }


def role_statements(project: Path) -> list[dict]:
    (policy,) = load_cfn(project / "deploy-role.yaml")["Resources"]["DeployRole"][
        "Properties"
    ]["Policies"]
    return policy["PolicyDocument"]["Statement"]


def role_allows(statements: list[dict], action: str, arn: str) -> bool:
    for statement in statements:
        actions = statement["Action"]
        if action not in ([actions] if isinstance(actions, str) else actions):
            continue
        resources = statement["Resource"]
        for resource in resources if isinstance(resources, list) else [resources]:
            pattern = resource if isinstance(resource, str) else sub(resource)
            if fnmatchcase(arn, pattern):
                return True
    return False


ROLE_CASES = [
    {**DEFAULTS, "monitoring": monitoring, "metrics": metrics, "logging": logging}
    for monitoring in (True, False)
    for metrics in (True, False)
    for logging in (True, False)
    if monitoring or (metrics and logging)
]


@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=combination_id(a)) for a in ROLE_CASES]
)
def test_deploy_role_reaches_exactly_this_stacks_monitoring(bake, answers):
    """The deploy role may change the topic, each alarm and the dashboard of its
    own stack (names resolved from template.yaml), none of a
    sibling stack's (a stack named with this one's name as a prefix); and make a
    change set through each transform template.yaml names (the language extensions
    with monitoring), no other."""
    project = baked_project(bake, answers)
    statements = role_statements(project)
    template = load_cfn(project / "template.yaml")
    for name in ("Serverless-2016-10-31", "LanguageExtensions", "Include"):
        arn = f"arn:aws:cloudformation:{REGION}:aws:transform/{name}"
        allowed = role_allows(statements, "cloudformation:CreateChangeSet", arn)
        assert allowed == (f"AWS::{name}" in template["Transform"]), name
    actions = {
        a
        for s in statements
        for a in ([s["Action"]] if isinstance(s["Action"], str) else s["Action"])
    }
    if not answers["monitoring"]:
        assert not {a for a in actions if a.startswith(("sns:", "cloudwatch:"))}
        assert "logs:PutQueryDefinition" not in actions
        return

    (topic,) = of_type(template, "AWS::SNS::Topic").values()
    (dashboard,) = of_type(template, "AWS::CloudWatch::Dashboard").values()
    prefix = f"arn:aws:sns:{REGION}:{ACCOUNT}:"
    topic_arn = prefix + sub(topic["Properties"]["TopicName"])
    alarm_arns = [
        f"arn:aws:cloudwatch:{REGION}:{ACCOUNT}:alarm:{STACK}-{name}"
        for name in alarms(template)
    ]
    dashboard_arn = f"arn:aws:cloudwatch::{ACCOUNT}:dashboard/" + sub(
        dashboard["Properties"]["DashboardName"]
    )
    owned = {
        topic_arn: ["sns:CreateTopic", "sns:DeleteTopic", "sns:SetTopicAttributes"],
        dashboard_arn: ["cloudwatch:PutDashboard", "cloudwatch:DeleteDashboards"],
        **{
            arn: ["cloudwatch:PutMetricAlarm", "cloudwatch:DeleteAlarms"]
            for arn in alarm_arns
        },
    }
    # Subscriptions are made by hand, never by a deploy.
    assert not actions & {"sns:Subscribe", "sns:Unsubscribe", "sns:Publish"}
    for arn, needed in owned.items():
        for action in needed:
            assert role_allows(statements, action, arn), (action, arn)
        sibling = arn.replace(STACK, f"{STACK}-2", 1)
        for action in needed:
            assert not role_allows(statements, action, sibling), (action, sibling)
    # Exactly these alarms: one resource per alarm of template.yaml.
    for sid in ("Alarms", "AlarmActions"):
        (alarm_statement,) = [s for s in statements if s["Sid"] == sid]
        resources = sorted(sub(r) for r in alarm_statement["Resource"])
        assert resources == sorted(alarm_arns), sid
    assert ("logs:PutQueryDefinition" in actions) == answers["logging"]


@pytest.mark.parametrize(
    "answers",
    [pytest.param(a, id=combination_id(a)) for a in ROLE_CASES if a["monitoring"]],
)
def test_observe_text_says_what_fires_where_and_what_to_run(bake, answers):
    project = baked_project(bake, answers)
    stack = "hello-powertools"  # samconfig.toml's stack_name for the defaults
    template = load_cfn(project / "template.yaml")
    names = [f"{stack}-{name}" for name in alarms(template)]
    readme = (project / "README.md").read_text(encoding="utf-8")
    (observe,) = re.findall(r"^## Observe\n(.*?)^## ", readme, re.S | re.M)
    assert f"`{stack}-alarms`" in observe  # where it goes
    assert "aws sns subscribe" in observe and "confirm" in observe  # once, by hand
    first = f"`{stack}/errors`" if answers["logging"] else "--filter ERROR"
    assert first in observe  # the first query
    assert "docs/monitoring.md" in observe
    page = (project / "docs" / "monitoring.md").read_text(encoding="utf-8")
    # What fires: the page's table has a row per alarm, stating its threshold
    # and periods as template.yaml sets them.
    rows = dict(re.findall(r"^\| `([\w-]+)` \|(.*)$", page, re.M))
    assert sorted(rows) == sorted(names)
    for name, alarm in alarms(template).items():
        row = rows[f"{stack}-{name}"]
        assert f"> {alarm['Threshold']:g}" in row, (name, row)
        periods = alarm["EvaluationPeriods"]
        assert ("in a minute" if periods == 1 else f"{periods} minutes") in row, name
    queries = of_type(template, "AWS::Logs::QueryDefinition").values()
    for query in queries:
        name = sub(query["Properties"]["Name"]).split("/", 1)[1]
        assert f"`{name}`" in page, name


# JSON's and YAML's structure: what a Jinja string may not hold in template.yaml.
STRUCTURE = set(',:[]{}"')


def punctuation_placed_by_jinja(source: str) -> list[str]:
    """Where Jinja, not the template's text, decides a comma, bracket, colon or
    quote: the string literals of the Jinja tags in a template's source that hold
    JSON or YAML punctuation (an answer's own quotes escaped by a filter, such as
    replace("'", "''"), are not structure), and the block tags ({% if %}, {% set %}
    ...) that share their line with text, choosing part of a line."""
    from jinja2 import Environment

    strings = [
        f"line {line}: {value}"
        for line, kind, value in Environment().lex(source)
        if kind == "string" and STRUCTURE & set(value[1:-1])
    ]
    inline = [
        f"line {number}: {line.strip()}"
        for number, line in enumerate(source.splitlines(), 1)
        if "{%" in line and not re.fullmatch(r"\s*\{%[^%]*%\}\s*", line)
    ]
    return strings + inline


def test_template_yaml_has_no_punctuation_placed_by_jinja():
    """Jinja chooses whole lines of template.yaml (the dashboard's widgets are YAML
    list items), never its commas or brackets."""
    source = (PROJECT_TEMPLATE / "template.yaml").read_text(encoding="utf-8")
    assert punctuation_placed_by_jinja(source) == []
    # Not vacuous: what placed the dashboard's commas before.
    placed = """{% set api = '"ApiName", "${AWS::StackName}"' %}
    ["AWS/Lambda", "ConcurrentExecutions", {{ fn }}]] } }{{ "," if M or L else "" }}
    "${ApiLatencyAlarm.Arn}"{{ ', "${UnhandledErrorsAlarm.Arn}"' if M else "" }}] } },
    "${ApiLatencyAlarm.Arn}"{% if M %}, "${UnhandledErrorsAlarm.Arn}"{% endif %}] } },
{% if M %}
"""
    found = punctuation_placed_by_jinja(placed)
    assert len(found) == 4, found
    assert found[-1].startswith("line 4: "), found
