"""The generated README's Mermaid diagram shows exactly what the stack deploys.

Client -> API Gateway -> Lambda and CloudWatch Logs always (the stack always creates
the function's log group, and Lambda always writes to it); CloudWatch metrics only
with `metrics` (EMF lines in the log group become metrics); X-Ray only with
`tracing` (API stage and function both traced); alarms and their SNS topic only
with `monitoring`. The diagram is parsed with a strict
line grammar, so a stray Jinja line or a malformed node fails here, and checked
against the rendered template.yaml, so picture and stack cannot drift apart.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from matrix import matrix_params
from support.renders import SCOPES, check_each, scope_matrix

COMBINATIONS = matrix_params()

MERMAID_BLOCK = re.compile(r"^```mermaid\n(.*?)^```$", re.MULTILINE | re.DOTALL)
# id(["label"]) stadium, id[("label")] cylinder, id["label"] box.
NODE = re.compile(r'    (\w+)(\(\[|\[\(|\[)"([^"]+)"(\]\)|\)\]|\])')
EDGE = re.compile(r'    (\w+) (-->|-\.->)\|"([^"]+)"\| (\w+)')
CLOSING = {"([": "])", "[(": ")]", "[": "]"}


def diagram(readme: str) -> tuple[dict[str, str], set[tuple[str, str]]]:
    """Node id -> service (first label line), and the (from, to) edges."""
    blocks = MERMAID_BLOCK.findall(readme)
    assert len(blocks) == 1, f"{len(blocks)} mermaid blocks"
    header, *lines = blocks[0].splitlines()
    assert header == "flowchart LR"
    nodes, edges = {}, set()
    for line in lines:
        if node := NODE.fullmatch(line):
            name, opening, label, closing = node.groups()
            assert CLOSING[opening] == closing, line
            assert name not in nodes, f"{name} declared twice"
            nodes[name] = label.split("<br/>")[0]
        elif edge := EDGE.fullmatch(line):
            edges.add((edge[1], edge[4]))
        else:
            pytest.fail(f"not a node or an edge: {line!r}")
    for start, end in edges:
        assert start in nodes and end in nodes, (start, end)
    return nodes, edges


def expected(answers: dict) -> tuple[set[str], set[tuple[str, str]]]:
    services = {
        "Client",
        "Amazon API Gateway",
        "AWS Lambda",
        "Amazon CloudWatch Logs",
    }
    edges = {("client", "api"), ("api", "function"), ("function", "logs")}
    if answers["metrics"]:
        services.add("Amazon CloudWatch metrics")
        edges.add(("logs", "metrics"))
    if answers["tracing"]:
        services.add("AWS X-Ray")
        edges |= {("api", "xray"), ("function", "xray")}
    if answers["monitoring"]:
        services |= {"Amazon CloudWatch alarms", "Amazon SNS"}
        edges |= {("api", "alarms"), ("function", "alarms"), ("alarms", "topic")}
        if answers["metrics"]:
            edges.add(("metrics", "alarms"))
    return services, edges


@pytest.mark.parametrize("scope", SCOPES)
def test_diagram_names_exactly_the_selected_services(bake, scope):
    def check(project: Path, answers: dict) -> None:
        nodes, edges = diagram((project / "README.md").read_text(encoding="utf-8"))

        services, expected_edges = expected(answers)
        assert set(nodes.values()) == services
        assert edges == expected_edges

    check_each(bake.each(scope_matrix(scope)), check)


@pytest.mark.parametrize("scope", SCOPES)
def test_diagram_matches_the_rendered_stack(bake, scope):
    def check(project: Path, answers: dict) -> None:
        readme = (project / "README.md").read_text(encoding="utf-8")
        template = (project / "template.yaml").read_text(encoding="utf-8")
        nodes, _ = diagram(readme)
        block = MERMAID_BLOCK.search(readme)[1]

        assert ("AWS X-Ray" in nodes.values()) == ("Tracing: Active" in template)
        assert ("Amazon CloudWatch metrics" in nodes.values()) == (
            "POWERTOOLS_METRICS_NAMESPACE" in template
        )
        assert ("Amazon CloudWatch alarms" in nodes.values()) == (
            "Type: AWS::CloudWatch::Alarm" in template
        )
        assert ("Amazon SNS" in nodes.values()) == ("Type: AWS::SNS::Topic" in template)
        assert "Type: AWS::Logs::LogGroup" in template
        assert "RetentionInDays: 30" in template and "log group, 30 days" in block
        assert "StageName: Prod" in template and "stage Prod" in block
        assert "  HelloWorldFunction:\n" in template and "HelloWorldFunction" in block
        assert f"{answers['runtime']}, {answers['architecture']}" in block
        assert ("JSON logs, Powertools Logger" in block) == answers["logging"]

    check_each(bake.each(scope_matrix(scope)), check)
