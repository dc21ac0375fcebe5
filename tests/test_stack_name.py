"""The stack name samconfig.toml gives the project, which the deploy role
(ci=github) is scoped to: a long slug is cut at a hyphen to fit the role template's
limit; elsewhere the stack name is the slug."""

from __future__ import annotations

import pytest

from matrix import (
    DEFAULTS,
    values,
)
from support.deploy_role import load_role, stack_name
from support.renders import baked_project

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
    role = load_role(project)
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
