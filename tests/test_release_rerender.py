"""A generated project's record of the release it was rendered from, which its
README's "Change an answer" renders again.

A git repository of the template holding two tagged releases, built once per run:
a project rendered from the first with `--checkout` through a file:// URL, then its
README's "Change an answer" followed as written (but for the template's location,
file:// for gh:, and the suite's pinned cookiecutter and cruft for the ones the
template's Quick start installs), then moved to the second release, with the
cookiecutter CLI and with cruft, is the second release's render with the answers
kept."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sys
from pathlib import Path

import pytest

from matrix import COOKIECUTTER_JSON, cli_answers
from support.git import GIT_IDENTITY, git
from support.processes import python_m, run
from support.renders import tree
from support.shared import once, run_directory
from support.template import copy_template

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
