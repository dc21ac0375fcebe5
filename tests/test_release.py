"""Releases: the release job of the template's workflow and the decision it runs
(.ci/release.py).

- The decision runs against small git repositories built here, with and without
  the version's tag and its CHANGELOG.md heading: never this repository's own tags,
  so the tests hold before and after a release is cut.
- The workflow: only the release job writes, after every check passed, on the
  default branch; its two steps run as written (the GitHub CLI replaced by a
  stand-in that records what it was asked: GitHub's API is not reachable here).

A project rendered from a release, then rendered again: test_release_rerender.py.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from matrix import ROOT
from support.documents import load_workflow
from support.git import GIT_IDENTITY, git
from support.processes import run
from support.template import TEMPLATE_WORKFLOW

SCRIPT = ROOT / ".ci" / "release.py"


def load_script():
    spec = importlib.util.spec_from_file_location("release", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# --- the decision, against repositories built here ---------------------------------


def section(version: str) -> str:
    return f"### Added\n\n- What {version} brought,\n  over two lines.\n"


def changelog(*versions: str, unreleased: str = "") -> str:
    """A Keep a Changelog file: Unreleased, then these releases, newest first, then
    the link definitions that close it."""
    parts = ["# Changelog\n", f"## [Unreleased]\n\n{unreleased}"]
    parts += [
        f"## [{v}] - 2026-12-0{i + 1}\n\n{section(v)}" for i, v in enumerate(versions)
    ]
    links = [f"[{v}]: https://example.com/releases/tag/v{v}" for v in versions]
    return "\n".join([*parts, "\n".join(["[unreleased]: https://example.com", *links])])


def repository(
    directory: Path, version: str, text: str, tags: tuple[str, ...] = ()
) -> Path:
    """A git repository whose pyproject.toml says `version` and CHANGELOG.md
    `text`, with these tags on its one commit."""
    directory.mkdir()
    (directory / "pyproject.toml").write_text(
        f'[project]\nname = "x"\nversion = "{version}"\n', encoding="utf-8"
    )
    (directory / "CHANGELOG.md").write_text(text, encoding="utf-8")
    git(directory, "init", "-q")
    git(directory, "add", "-A")
    git(directory, "commit", "-q", "-m", "release")
    for tag in tags:
        git(directory, "tag", tag)
    return directory


def decide(directory: Path, notes: Path) -> subprocess.CompletedProcess:
    return run(
        [
            sys.executable,
            str(SCRIPT),
            "--repository",
            str(directory),
            "--notes",
            str(notes),
        ]
    )


@pytest.mark.parametrize("tagged", [True, False], ids=["tagged", "untagged"])
@pytest.mark.parametrize("heading", [True, False], ids=["heading", "no-heading"])
def test_decision_with_and_without_the_tag_and_the_heading(tmp_path, tagged, heading):
    """Only an untagged version with its heading is released; a tagged one is a
    push without a version bump (nothing to do); an untagged one without its
    heading is an error that tags nothing."""
    versions = ("1.1.0", "1.0.0") if heading else ("1.0.0",)
    tags = ("v1.0.0", "v1.1.0") if tagged else ("v1.0.0",)
    directory = repository(tmp_path / "r", "1.1.0", changelog(*versions), tags)
    notes = tmp_path / "notes.md"

    result = decide(directory, notes)

    if tagged:
        assert (result.returncode, result.stdout) == (0, ""), result.stderr
        assert result.stderr == "release: v1.1.0 exists: nothing to release\n"
        assert not notes.exists()
    elif heading:
        assert (result.returncode, result.stdout) == (0, "tag=v1.1.0\n"), result.stderr
        assert notes.read_text(encoding="utf-8") == section("1.1.0")
    else:
        assert (result.returncode, result.stdout) == (1, ""), result.stderr
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith(
            'release: CHANGELOG.md has no "## [1.1.0]" heading for pyproject.toml\'s '
            "version 1.1.0, which has no tag"
        )
        assert not notes.exists()


@pytest.mark.parametrize(
    ("version", "text", "tags", "error"),
    [
        pytest.param(
            "1.1.0",
            changelog("1.1.0", "1.0.0", unreleased="### Fixed\n\n- Something.\n"),
            ("v1.0.0",),
            'CHANGELOG.md lists changes under "## [Unreleased]", so this commit is '
            "not the release 1.1.0 its section describes",
            id="changes-under-unreleased",
        ),
        pytest.param(
            "1.1.0",
            changelog("2.0.0", "1.1.0"),
            ("v2.0.0",),
            "pyproject.toml's version 1.1.0 is older than the tag v2.0.0",
            id="older-than-a-tag",
        ),
        pytest.param(
            "1.1",
            changelog("1.1"),
            (),
            "pyproject.toml: [project] version '1.1' is not X.Y.Z",
            id="not-x.y.z",
        ),
        pytest.param(
            "1.1.0rc1",
            changelog("1.1.0rc1"),
            (),
            "pyproject.toml: [project] version '1.1.0rc1' is not X.Y.Z",
            id="pre-release",
        ),
        pytest.param(
            "1.1.0",
            changelog("1.0.0").replace("## [1.0.0]", "## [1.1.0]\n\n## [1.0.0]"),
            (),
            'CHANGELOG.md: the "## [1.1.0]" section is empty',
            id="empty-section",
        ),
    ],
)
def test_decision_refuses_what_is_not_a_release(tmp_path, version, text, tags, error):
    directory = repository(tmp_path / "r", version, text, tags)
    notes = tmp_path / "notes.md"

    result = decide(directory, notes)

    assert (result.returncode, result.stdout) == (1, ""), result.stderr
    assert result.stderr.startswith(f"release: {error}"), result.stderr
    assert result.stderr.count("\n") == 1
    assert not notes.exists()


def test_decision_outside_a_git_repository_is_one_line(tmp_path):
    directory = tmp_path / "r"
    directory.mkdir()
    (directory / "pyproject.toml").write_text('[project]\nversion = "1.0.0"\n', "utf-8")

    result = decide(directory, tmp_path / "notes.md")

    assert result.returncode == 1
    assert result.stderr.startswith("release: git tag --list failed in ")
    assert result.stderr.count("\n") == 1


def test_notes_of_the_oldest_release_leave_out_the_link_definitions(tmp_path):
    """An empty Unreleased (its subheadings without items count as empty)."""
    text = changelog("1.0.0", unreleased="### Added\n\n### Fixed\n")
    directory = repository(tmp_path / "r", "1.0.0", text)
    notes = tmp_path / "notes.md"

    result = decide(directory, notes)

    assert (result.returncode, result.stdout) == (0, "tag=v1.0.0\n"), result.stderr
    assert notes.read_text(encoding="utf-8") == section("1.0.0")


def test_this_repositorys_version_has_its_changelog_section():
    """What the release job will publish for pyproject.toml's version, whether or
    not it is cut yet (tests/test_readme.py keeps version, heading and README's
    pins equal)."""
    release = load_script()
    version = release.project_version(ROOT)
    sections = release.sections((ROOT / "CHANGELOG.md").read_text(encoding="utf-8"))
    assert list(sections)[:2] == ["Unreleased", version]
    assert re.search(r"^- ", sections[version], re.MULTILINE), sections[version]
    assert "]: https://" not in sections[version]


# --- the release job ----------------------------------------------------------------


def release_job() -> dict:
    return load_workflow(TEMPLATE_WORKFLOW)["jobs"]["release"]


def test_only_the_release_job_writes_and_only_after_every_check():
    workflows = sorted((ROOT / ".github" / "workflows").glob("*.y*ml"))
    writers = [
        (path.name, name)
        for path in workflows
        for name, job in load_workflow(path)["jobs"].items()
        if "write" in job.get("permissions", {}).values()
    ]
    assert writers == [("ci.yml", "release")]
    job = release_job()
    assert job["permissions"] == {"contents": "write"}
    assert job["needs"] == ["all-green"]
    # Not on pull requests; on the default branch, whatever its name.
    assert job["if"] == (
        "github.event_name != 'pull_request' && github.ref == "
        "format('refs/heads/{0}', github.event.repository.default_branch)"
    )
    assert job["concurrency"] == {"group": "release", "cancel-in-progress": False}
    # The default branch's runs are never cancelled by a newer push: a version
    # bump's release would be.
    workflow = load_workflow(TEMPLATE_WORKFLOW)
    assert workflow["concurrency"]["cancel-in-progress"] == (
        "${{ github.event_name == 'pull_request' }}"
    )


def test_the_release_job_uses_no_credential_but_its_token():
    text = TEMPLATE_WORKFLOW.read_text(encoding="utf-8")
    assert "secrets." not in text
    steps = release_job()["steps"]
    checkout = steps[0]
    assert checkout["uses"].startswith("actions/checkout@")
    # Every tag, for the decision; no token left in the checkout.
    assert checkout["with"] == {"fetch-depth": 0, "persist-credentials": False}
    tokens = [
        step["env"]["GH_TOKEN"] for step in steps if "GH_TOKEN" in step.get("env", {})
    ]
    assert tokens == ["${{ github.token }}"]


def stand_in_gh(directory: Path) -> Path:
    """A `gh` that records its arguments, one per line, in gh.args beside it."""
    directory.mkdir()
    gh = directory / "gh"
    gh.write_text(
        f'#!/bin/sh\nprintf "%s\\n" "$@" > {shlex.quote(str(directory / "gh.args"))}\n',
        encoding="utf-8",
    )
    gh.chmod(0o755)
    return directory / "gh.args"


def run_step(step: dict, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    """A step's script as the runner runs it (bash -e), with its env: values the
    runner would give GitHub expressions are given by the test."""
    return run(["bash", "-e", "-c", step["run"]], cwd=cwd, env=env)


@pytest.mark.parametrize(
    "bumped", [True, False], ids=["version-bump", "no-version-bump"]
)
def test_the_release_steps_as_written(tmp_path, bumped):
    """Decide, then publish when a tag came out: a push with a version bump is
    tagged at its own commit with its section as notes; a push without one
    writes no output, so the publish step (if: the tag is not empty) is skipped."""
    (_, python_step, decide_step, publish_step) = release_job()["steps"]
    assert python_step["uses"].startswith("actions/setup-python@")
    assert decide_step["id"] == "decide"
    assert publish_step["if"] == "steps.decide.outputs.tag != ''"
    tags = () if bumped else ("v1.1.0",)
    checkout = repository(tmp_path / "checkout", "1.1.0", changelog("1.1.0"), tags)
    (checkout / ".ci").mkdir()
    (checkout / ".ci" / "release.py").write_bytes(SCRIPT.read_bytes())
    runner_temp = tmp_path / "runner-temp"
    runner_temp.mkdir()
    output = tmp_path / "github-output"
    output.touch()
    bin_directory = tmp_path / "bin"
    recorded = stand_in_gh(bin_directory)
    python = Path(sys.executable).parent
    env = {
        "PATH": os.pathsep.join([str(bin_directory), str(python), os.environ["PATH"]]),
        "RUNNER_TEMP": str(runner_temp),
        "GITHUB_OUTPUT": str(output),
        "GITHUB_SHA": git(checkout, "rev-parse", "HEAD"),
        **GIT_IDENTITY,
    }

    decided = run_step(decide_step, checkout, env)

    assert decided.returncode == 0, decided.stderr
    outputs = dict(line.split("=", 1) for line in output.read_text().splitlines())
    if not bumped:
        assert outputs == {}
        return
    assert outputs == {"tag": "v1.1.0"}
    published = run_step(
        publish_step,
        checkout,
        {**env, "TAG": outputs["tag"], "GH_TOKEN": "token", "GH_REPO": "o/r"},
    )
    assert published.returncode == 0, published.stderr
    assert recorded.read_text().splitlines() == [
        "release",
        "create",
        "v1.1.0",
        "--target",
        env["GITHUB_SHA"],
        "--title",
        "v1.1.0",
        "--notes-file",
        str(runner_temp / "notes.md"),
    ]
    assert (runner_temp / "notes.md").read_text(encoding="utf-8") == section("1.1.0")
