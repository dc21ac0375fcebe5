"""Releases: the release job of the template's workflow and the decision it runs
(.ci/release.py), and a generated project's record of the release it was rendered
from, which its README's "Change an answer" renders again.

- The decision runs against small git repositories built here, with and without
  the version's tag and its CHANGELOG.md heading: never this repository's own tags,
  so the tests hold before and after a release is cut.
- The workflow: only the release job writes, after every check passed, on the
  default branch; its two steps run as written (the GitHub CLI replaced by a
  stand-in that records what it was asked: GitHub's API is not reachable here).
- A git repository of the template holding two tagged releases, built once per run:
  a project rendered from the first with `--checkout` through a file:// URL, then
  its README's "Change an answer" followed as written (but for the template's
  location, file:// for gh:, and the suite's pinned cookiecutter and cruft for the
  ones the template's Quick start installs), then moved to the second release, with
  the cookiecutter CLI and with cruft, is the second release's render with the
  answers kept.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix import COOKIECUTTER_JSON, ROOT, cli_answers
from support.documents import load_workflow
from support.processes import python_m, run
from support.renders import tree
from support.shared import once, run_directory
from support.template import copy_template

SCRIPT = ROOT / ".ci" / "release.py"
TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
GIT_IDENTITY = {
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_AUTHOR_NAME": "test",
    "GIT_AUTHOR_EMAIL": "test@example.com",
    "GIT_COMMITTER_NAME": "test",
    "GIT_COMMITTER_EMAIL": "test@example.com",
}


def git(repository: Path, *args: str) -> str:
    result = run(["git", *args], cwd=repository, env={**os.environ, **GIT_IDENTITY})
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


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


# --- a project's release, rendered again --------------------------------------------

FIRST, SECOND = "v1.0.0", "v1.1.0"
LOCATION = "gh:cookiecutter-sam-powertools/cookiecutter-sam-powertools"
COOKIECUTTER = "~/.venvs/cookiecutter/bin/cookiecutter"
CRUFT = "~/.venvs/cookiecutter/bin/cruft"
# The answers a project is made with, and the one its README's cruft command (an
# example the README gives) and the edit of .cookiecutter.json change.
ANSWERS = {"project_name": "Order Service", "runtime": "python3.12", "tracing": False}
CHANGED = {"metrics": False}


def second_pin() -> str:
    """The second release moves a pin of the generated project: pytest's, one patch
    up (a version never installed here: nothing generated is run)."""
    major, minor, patch = COOKIECUTTER_JSON["_pytest_version"].split(".")
    return f"{major}.{minor}.{int(patch) + 1}"


def make_releases(directory: Path) -> None:
    """A bare repository, as a remote is, of the template: the first release the
    template as it is, the second with one pin moved."""
    work = directory.with_name(directory.name + "-work")
    shutil.rmtree(work, ignore_errors=True)  # left by an interrupted run
    copy_template(work)
    git(work, "init", "-q", "-b", "main")
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", "first release")
    git(work, "tag", FIRST)
    config = work / "cookiecutter.json"
    text = config.read_text(encoding="utf-8")
    pin = f'"_pytest_version": "{COOKIECUTTER_JSON["_pytest_version"]}"'
    assert text.count(pin) == 1
    config.write_text(
        text.replace(pin, f'"_pytest_version": "{second_pin()}"'), encoding="utf-8"
    )
    git(work, "commit", "-q", "-a", "-m", "second release")
    git(work, "tag", SECOND)
    git(directory.parent, "clone", "-q", "--bare", str(work), str(directory))


@pytest.fixture(scope="session")
def releases(tmp_path_factory) -> Path:
    """The template's git repository with two tagged releases, made once per run
    for every worker. Its name ends in `.git`: cookiecutter takes a file:// URL
    for git's only when the URL says so."""
    shared = run_directory(tmp_path_factory) / "releases"
    return once(shared / "cookiecutter-sam-powertools.git", make_releases)


def user_of(directory: Path) -> dict[str, str]:
    """A user's environment: their own cookiecutter config (its clones and replays
    in `directory`), git without a user config."""
    config = directory / "cookiecutter-config.yaml"
    config.write_text(
        f"cookiecutters_dir: {directory / 'cookiecutters'}\n"
        f"replay_dir: {directory / 'replay'}\n",
        encoding="utf-8",
    )
    return {**os.environ, **GIT_IDENTITY, "COOKIECUTTER_CONFIG": str(config)}


@pytest.fixture
def user(tmp_path) -> dict[str, str]:
    return user_of(tmp_path)


def render_release(
    repository: Path, release: str, output: Path, env: dict, answers: dict
) -> Path:
    """`cookiecutter file://... --checkout <release> --no-input key=value ...`."""
    words = [cli_answers({key: value}) for key, value in answers.items()]
    python_m(
        "cookiecutter", repository.as_uri(), "--checkout", release, "--no-input",
        "--output-dir", str(output), *words, env=env,
    )  # fmt: skip
    (project,) = output.iterdir()
    return project


def change_an_answer(project: Path) -> str:
    """The bash block of the project's README, "Change an answer"."""
    readme = (project / "README.md").read_text(encoding="utf-8")
    part = readme[readme.index("## Change an answer\n") :]
    (block,) = re.findall(r"```bash\n(.*?)\n```", part, re.DOTALL)
    return block


def as_written(command: str, releases: Path) -> str:
    """The README's command, run here: the template from its file:// URL instead
    of GitHub, the tools of the Python running the tests for the ones the
    template's Quick start installs. Nothing else changes."""
    assert command.count(LOCATION) <= 1
    python = shlex.quote(sys.executable)
    return (
        command.replace(LOCATION, releases.as_uri())
        .replace(COOKIECUTTER, f"{python} -m cookiecutter")
        .replace(CRUFT, f"{python} -m cruft")
    )


def commit_all(project: Path, message: str) -> None:
    git(project, "add", "-A")
    git(project, "commit", "-q", "-m", message)


def recorded(project: Path) -> dict:
    return json.loads((project / ".cookiecutter.json").read_text("utf-8"))[
        "cookiecutter"
    ]


@pytest.fixture(scope="session")
def second_release_render(releases, tmp_path_factory) -> Path:
    """The second release rendered afresh with the answers changed, once per run:
    what a project moved to it must be."""

    def make(directory: Path) -> None:
        directory.mkdir()
        env = user_of(directory)
        render_release(releases, SECOND, directory / "out", env, {**ANSWERS, **CHANGED})

    shared = run_directory(tmp_path_factory) / "second-release"
    (project,) = (once(shared, make) / "out").iterdir()
    return project


def test_a_pinned_project_changes_an_answer_then_moves_release(
    releases, second_release_render, user, tmp_path
):
    project = render_release(releases, FIRST, tmp_path / "out", user, ANSWERS)
    assert recorded(project)["_checkout"] == FIRST
    command = change_an_answer(project)
    assert f"--checkout {FIRST} --replay-file .cookiecutter.json" in command
    git(project, "init", "-q")
    answers = json.loads((project / ".cookiecutter.json").read_text("utf-8"))
    answers["cookiecutter"].update(CHANGED)
    (project / ".cookiecutter.json").write_text(json.dumps(answers), encoding="utf-8")
    commit_all(project, "metrics off")

    # As written: the first release again, with the answer changed. The README says
    # to answer y when cookiecutter offers to download the template again.
    run_command = ["bash", "-e", "-c", as_written(command, releases)]
    first = run(run_command, cwd=project, env=user, input="y\n")

    assert first.returncode == 0, first.stdout + first.stderr
    assert not (project / "tests/unit/test_metrics.py").exists()
    assert recorded(project) == {**recorded(second_release_render), "_checkout": FIRST}
    pin = f"pytest=={COOKIECUTTER_JSON['_pytest_version']}\n"
    assert pin in (project / "requirements-dev.txt").read_text("utf-8")
    commit_all(project, "re-rendered")

    # "With another release's tag after --checkout": the second release.
    moved = command.replace(f"--checkout {FIRST}", f"--checkout {SECOND}")
    second = run(
        ["bash", "-e", "-c", as_written(moved, releases)],
        cwd=project,
        env=user,
        input="y\n",
    )

    assert second.returncode == 0, second.stdout + second.stderr
    assert f"pytest=={second_pin()}\n" in (project / "requirements-dev.txt").read_text()
    assert tree(project, ignore=(".git",)) == tree(second_release_render)


@pytest.mark.slow  # cruft clones and renders twice per update: ~4 s
def test_a_cruft_project_changes_an_answer_then_moves_release(
    releases, second_release_render, user, tmp_path
):
    python_m(
        "cruft", "create", releases.as_uri(), "--checkout", FIRST, "--no-input",
        "--extra-context", json.dumps(ANSWERS), "--output-dir", str(tmp_path / "out"),
        env=user,
    )  # fmt: skip
    (project,) = (tmp_path / "out").iterdir()
    first_commit = git(releases, "rev-parse", FIRST)
    command = change_an_answer(project)
    assert command.startswith(
        f"{CRUFT} update --checkout {first_commit} --skip-apply-ask"
    )
    git(project, "init", "-q")
    commit_all(project, "created")

    # As written: the example answer, on the commit the project came from.
    first = run(
        ["bash", "-e", "-c", as_written(command, releases)], cwd=project, env=user
    )

    assert first.returncode == 0, first.stdout + first.stderr
    state = json.loads((project / ".cruft.json").read_text("utf-8"))
    assert state["commit"] == first_commit
    assert {k: state["context"]["cookiecutter"][k] for k in CHANGED} == CHANGED
    assert not (project / "tests/unit/test_metrics.py").exists()
    commit_all(project, "metrics off")

    python_m(
        "cruft",
        "update",
        "--checkout",
        SECOND,
        "--skip-apply-ask",
        cwd=project,
        env=user,
    )

    # The second release's render, but for what records how it was made: cruft's
    # state, and the commit (cruft passes no tag) instead of the tag.
    second_commit = git(releases, "rev-parse", SECOND)
    state = json.loads((project / ".cruft.json").read_text("utf-8"))
    assert (state["commit"], state["checkout"]) == (second_commit, SECOND)
    expected = tree(second_release_render)
    found = tree(project, ignore=(".git", ".cruft.json"))
    assert found.keys() == expected.keys()
    differ = sorted(path for path in found if found[path] != expected[path])
    assert differ == [".cookiecutter.json", "README.md"]
    assert recorded(project) == {
        **recorded(second_release_render),
        "_checkout": second_commit,
    }
    readme, fresh_readme = (
        p.read_text("utf-8").split("## Change an answer\n")
        for p in (project / "README.md", second_release_render / "README.md")
    )
    assert readme[0] == fresh_readme[0]
    assert f"--checkout {second_commit} " in readme[1]
