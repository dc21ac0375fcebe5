"""Dependabot in the generated project (ci=github): every pin file and every action,
weekly, grouped."""

from __future__ import annotations

from pathlib import Path

import pytest

from support.documents import load_yaml
from support.github import github_combinations
from support.renders import SCOPES, check_each


@pytest.mark.parametrize("scope", SCOPES)
def test_dependabot_updates_every_pin_file_and_action_weekly_grouped(bake, scope):
    def check(project: Path, answers: dict) -> None:
        config = load_yaml(project / ".github/dependabot.yml")
        updates = {u["package-ecosystem"]: u for u in config["updates"]}
        assert sorted(updates) == ["github-actions", "pip"]
        for update in updates.values():
            assert update["directory"] == "/"
            assert update["schedule"]["interval"] == "weekly"
            ((_, group),) = update["groups"].items()
            assert group["patterns"] == ["*"]
        # With directory "/", Dependabot's pip reads the requirement files at the root
        # and one directory down: the root's and each directory's *.txt whose name says
        # "requirements" (dependabot-core,
        # python/lib/dependabot/python/file_fetcher.rb).
        requirement_files = [
            p.relative_to(project) for p in project.rglob("*requirements*.txt")
        ]
        assert requirement_files
        assert all(len(p.parts) <= 2 for p in requirement_files), requirement_files

    check_each(bake.each(github_combinations(scope)), check)
