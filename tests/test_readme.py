"""README.md is for users: short, and its Quick start works as written on a machine
with only Python and git."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import tomllib

import pytest

from matrix import (
    BOOLEANS,
    CHOICES,
    COOKIECUTTER_JSON,
    DEFAULTS,
    PUBLIC_KEYS,
    ROOT,
    full_matrix,
)
from support.markdown import SHOWN_ABOVE_THE_TABLE, selection_table
from support.renders import SCOPES, baked_project, scope_matrix
from support.template import README

TEMPLATE = "gh:cookiecutter-sam-powertools/cookiecutter-sam-powertools"


def quick_start_blocks() -> list[list[str]]:
    """The bash blocks of the Quick start: generating, then pinning a release."""
    section = README[README.index("## Quick start") :]
    section = section[: section.index("\n## ")]
    blocks = re.findall(r"```bash\n(.*?)\n```", section, re.DOTALL)
    assert len(blocks) == 2, blocks
    return [block.splitlines() for block in blocks]


def quick_start() -> list[str]:
    return quick_start_blocks()[0]


def test_readme_is_short_and_starts_with_generating():
    assert len(README.splitlines()) <= 200
    # Generating comes before the options, the hostile-answer detail is elsewhere.
    assert README.index("## Quick start") < README.index("## Options")
    assert "### Hostile answers" not in README
    for page in ("docs/entry-points.md", "docs/hostile-answers.md", "CONTRIBUTING.md"):
        assert f"]({page})" in README and (ROOT / page).is_file(), page
    assert "](bench/README.md)" in README


def test_quick_start_is_two_commands_without_a_system_wide_pip():
    commands = quick_start()
    assert len(commands) == 2, commands
    assert "venv" in commands[0]
    assert not re.search(r"(^|&& )(sudo )?pip3? install", commands[0])
    assert TEMPLATE in commands[1] and "--no-input" in commands[1]


def test_quick_start_pins_the_current_release_with_cookiecutter_and_cruft():
    """The release pyproject.toml names, with the cruft the suite tests."""
    cookiecutter_command, cruft_command = quick_start_blocks()[1]
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = pyproject["project"]["version"]
    pins = dict(r.split("==") for r in pyproject["dependency-groups"]["dev"])
    assert cookiecutter_command == quick_start()[1].replace(
        " --no-input", f" --checkout v{version} --no-input"
    )
    install, create = cruft_command.split(" && ")
    assert install.endswith(f"pip install cruft=={pins['cruft']}")
    assert create.endswith(f"cruft create {GIT_URL} --checkout v{version}")


CHANGELOG = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
GIT_URL = "https://github.com/cookiecutter-sam-powertools/cookiecutter-sam-powertools"


def test_changelog_opens_with_unreleased_then_the_current_version():
    """Keep a Changelog: an Unreleased section, then one per release, newest first,
    the newest being pyproject.toml's version; each heading's link defined."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    version = pyproject["project"]["version"]
    headings = re.findall(r"^## \[([^\]]+)\](.*)$", CHANGELOG, re.MULTILINE)
    assert headings[0] == ("Unreleased", "")
    releases = [name for name, _ in headings[1:]]
    assert releases[0] == version
    assert all(re.fullmatch(r" - \d{4}-\d{2}-\d{2}", date) for _, date in headings[1:])
    numbers = [tuple(map(int, r.split("."))) for r in releases]
    assert numbers == sorted(numbers, reverse=True), releases
    assert f"[unreleased]: {GIT_URL}/compare/v{version}...HEAD" in CHANGELOG
    for release in releases:
        assert f"[{release}]: {GIT_URL}/releases/tag/v{release}" in CHANGELOG
    assert "](CHANGELOG.md)" in README


def options_table() -> dict[str, list[str]]:
    """README's options table: variable -> its cells (values, default, effect)."""
    section = README[README.index("## Options") :]
    section = section[: section.index("\n## ")]
    rows = {}
    for line in section.splitlines():
        match = re.match(r"\| `(\w+)` \|(.*)\|$", line)
        if match:
            rows[match[1]] = [cell.strip() for cell in match[2].split(" | ")]
    return rows


def test_options_table_gives_cookiecutter_jsons_values_and_defaults():
    rows = options_table()
    for option, choices in CHOICES.items():
        values, default, _ = rows[option]
        assert re.findall(r"`([^`]+)`", values) == choices, option
        assert default == f"`{choices[0]}`", option
    for option in BOOLEANS:
        values, default, _ = rows[option]
        assert values == "`true`/`false`", option
        assert default == f"`{str(COOKIECUTTER_JSON[option]).lower()}`", option


def test_readme_counts_the_combinations_the_suite_renders():
    assert f"Every combination of options ({len(full_matrix())})" in README


def user_environment() -> dict[str, str]:
    """The environment without the suite's cookiecutter config (a user has none;
    HOME is empty below, so nothing reaches the real one either)."""
    return {k: v for k, v in os.environ.items() if k != "COOKIECUTTER_CONFIG"}


def checkout_status() -> str:
    """What git sees changed or added in this checkout."""
    return subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=all"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout


@pytest.mark.slow
def test_quick_start_works_on_a_machine_with_only_python_and_git(bake, tmp_path):
    """The two commands, run as written by bash in an empty home directory and an
    empty working directory, with the template's own checkout in place of the
    GitHub one (cookiecutter's `gh:` adds only a clone): the default project
    appears there, the same as the suite's rendering, and nothing is left in the
    template's checkout."""
    home = tmp_path / "home"
    work = tmp_path / "work"
    home.mkdir()
    work.mkdir()
    before = checkout_status()
    script = "\n".join(quick_start()).replace(TEMPLATE, str(ROOT))
    env = {
        "HOME": str(home),
        "PATH": os.path.dirname(sys.executable) + os.pathsep + "/usr/bin:/bin",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
    }
    # python3 here is the interpreter running the tests: a Python and nothing else.
    ran = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env={**user_environment(), **env, "VIRTUAL_ENV": ""},
        capture_output=True,
        text=True,
        check=False,
    )
    assert ran.returncode == 0, ran.stdout + ran.stderr
    (project,) = work.iterdir()
    expected = baked_project(bake, DEFAULTS)
    assert project.name == expected.name
    assert sorted(p.relative_to(project) for p in project.rglob("*")) == sorted(
        p.relative_to(expected) for p in expected.rglob("*")
    )
    after = checkout_status()
    assert after == before


@pytest.mark.parametrize("scope", SCOPES)
def test_generated_readme_shows_every_answer(bake, scope):
    """The generated README's "What was selected" has a row for every answer but
    the two it shows above (cookiecutter.json's order, whatever is on or off), and
    each row gives the answer recorded in the project's .cookiecutter.json."""
    expected = [k for k in PUBLIC_KEYS if k not in SHOWN_ABOVE_THE_TABLE]
    for rendering in bake.distinct("README.md", scope_matrix(scope)):
        project = rendering.path.parent
        rows = selection_table(rendering.path.read_text(encoding="utf-8"))
        assert list(rows) == expected, project
        recorded = json.loads((project / ".cookiecutter.json").read_text("utf-8"))
        for key, cell in rows.items():
            value = recorded["cookiecutter"][key]
            if key in BOOLEANS:
                assert (cell == "no") if not value else cell.startswith("yes"), key
            elif key == "metrics_namespace" and not recorded["cookiecutter"]["metrics"]:
                assert cell == "not used"
            else:  # a choice, then what it means; free text as typed
                assert cell == f"`{value}`" or cell.startswith(f"`{value}`: "), key
