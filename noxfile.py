"""One command per loop. Sessions run in this repository's .venv, which
`bash .ci/run` makes on a clean clone (after that, `.venv/bin/nox -s full` is the
same run):

    .venv/bin/nox -s fast                 the quick subset, about a minute
    .venv/bin/nox -s mutations            the fast loop against known defects
    .venv/bin/nox -s full                 what CI runs: install, lint, every combination
    .venv/bin/nox -s lint                 ruff, ty, this repository's pre-commit hooks
    .venv/bin/nox -s bake -- ci=none      render a project, its checks and sam build
    .venv/bin/nox -s bench -- run         the benchmark (see bench/README.md)

Arguments after `--` go to pytest (fast, full), cookiecutter (bake) or bench.
Everything installed goes to .venv and .cache/ (git-ignored), through uv.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from pathlib import Path

import nox

nox.options.default_venv_backend = "none"
nox.options.sessions = ["fast"]

ROOT = Path(__file__).resolve().parent
CACHE = ROOT / ".cache"
VENV = ROOT / ".venv"
BIN = "Scripts" if os.name == "nt" else "bin"
PYTHON = VENV / BIN / "python"
DEV_GROUP = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))[
    "dependency-groups"
]["dev"]


@functools.cache
def environment() -> dict[str, str]:
    """Variables every session sets: no telemetry, every cache under .cache/, and
    the pyenv interpreters on PATH when there are any (`sam build` needs the
    runtime's python3.X; tests skip, saying so, what is missing)."""
    path = [os.environ.get("PATH", "")]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = Path(subprocess.check_output([pyenv, "root"], text=True).strip())
        path += [str(v / "bin") for v in sorted((root / "versions").glob("3.1[1-4]*"))]
    return {
        "SAM_CLI_TELEMETRY": "0",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        "UV_CACHE_DIR": str(CACHE / "uv"),
        "PRE_COMMIT_HOME": str(CACHE / "pre-commit"),
        "PATH": os.pathsep.join(path),
    }


def uv(session: nox.Session, *args: str) -> None:
    session.run(str(VENV / BIN / "uv"), *args, env=environment())


def stamped(marker: Path, stamp: str) -> bool:
    return marker.exists() and marker.read_text(encoding="utf-8") == stamp


def sync(session: nox.Session) -> None:
    """.venv has exactly the pins of pyproject.toml's dev group (bytecode compiled:
    the suite starts sam, cookiecutter and cfn-lint processes by the hundred)."""
    if not PYTHON.exists():
        session.error("no .venv: run `bash .ci/run` once (it makes .venv)")
    stamp = "\n".join(DEV_GROUP)
    marker = VENV / ".dev-group"
    if not stamped(marker, stamp):
        uv(session, "pip", "install", "--python", str(PYTHON), "--compile-bytecode",
           "--group", "dev")  # fmt: skip
        marker.write_text(stamp, encoding="utf-8")


def install_tools(session: nox.Session) -> None:
    """Checkers whose pins clash with aws-sam-cli's (click==8.1.8) get a venv each,
    .cache/tools/<name>/, from the exact pins in .ci/tools.txt; rebuilt only when
    the pin changes. tests/support/tools.py isolated_tool() runs them from there (a
    test skips, and the run's summary counts it, where one is missing)."""
    lines = (ROOT / ".ci" / "tools.txt").read_text(encoding="utf-8").splitlines()
    for requirement in (line.strip() for line in lines):
        if not requirement or requirement.startswith("#"):
            continue
        directory = CACHE / "tools" / requirement.split("==")[0]
        marker = directory / ".installed"
        if stamped(marker, requirement + "\n"):
            continue
        shutil.rmtree(directory, ignore_errors=True)
        uv(session, "venv", "--quiet", "--python", sys.executable, str(directory))
        uv(session, "pip", "install", "--quiet", "--compile-bytecode",
           "--python", str(directory / BIN / "python"), requirement)  # fmt: skip
        marker.write_text(requirement + "\n", encoding="utf-8")


def run(session: nox.Session, tool: str, *args: str, **kwargs) -> None:
    session.run(str(VENV / BIN / tool), *args, env=environment(), **kwargs)


def pytest(session: nox.Session, *args: str) -> None:
    # pytest-xdist workers, one per core and one more (tests/conftest.py
    # pytest_xdist_auto_num_workers), work-stealing: thousands of small tests go
    # out in large batches. What workers share is made once
    # (tests/support/shared.py).
    run(session, "python", "-m", "pytest", "-n", "auto", "--dist", "worksteal",
        *args, *session.posargs)  # fmt: skip


@nox.session
def fast(session: nox.Session) -> None:
    """The quick subset of every check (tests not marked slow), the isolated
    checkers installed first: no check is skipped for want of one."""
    sync(session)
    install_tools(session)
    pytest(session, "-m", "not slow")


@nox.session
def full(session: nox.Session) -> None:
    """What CI runs: install, lint and type-check this repository, then every
    test, every combination rendered and checked."""
    sync(session)
    install_tools(session)
    static_checks(session)
    pytest(session)


@nox.session
def tools(session: nox.Session) -> None:
    """Install the isolated checkers only (.ci/tools.txt), for pytest runs
    outside nox."""
    sync(session)
    install_tools(session)


def static_checks(session: nox.Session) -> None:
    """ruff, then the type checker over what pyproject.toml's [tool.ty.src] lists,
    with .venv's packages."""
    run(session, "ruff", "check", ".")
    run(session, "ruff", "format", "--check", ".")
    run(session, "ty", "check", "--python", str(VENV))


@nox.session
def lint(session: nox.Session) -> None:
    """ruff, the type checker, then this repository's pre-commit hooks on every
    file."""
    sync(session)
    static_checks(session)
    run(session, "pre-commit", "run", "--all-files", "--show-diff-on-failure")


@nox.session
def bake(session: nox.Session) -> None:
    """Render a project into .cache/bake/ (cookiecutter `key=value` answers after
    `--`), then run its README's Quick start there with the runtime's Python, as a
    user and its CI do: `dev.py setup` (its environments from its own pins), then
    `dev.py check` (ruff, unit tests, sam validate --lint of each template, sam
    build). The template's CI runs this session for the defaults and for each other
    option value."""
    sync(session)
    output = CACHE / "bake"
    shutil.rmtree(output, ignore_errors=True)
    run(session, "cookiecutter", str(ROOT), "--no-input", "--output-dir",
        str(output), *session.posargs)  # fmt: skip
    (project,) = output.iterdir()
    answers = json.loads((project / ".cookiecutter.json").read_text("utf-8"))
    runtime = answers["cookiecutter"]["runtime"]  # e.g. python3.13, found on PATH
    with session.chdir(project):
        for step in ("setup", "check"):
            session.run(runtime, "dev.py", step, env=environment(), external=True)
    session.log(f"rendered and checked: {project}")


@nox.session
def bench(session: nox.Session) -> None:
    """The benchmark, `python -m bench` with the arguments after `--`."""
    sync(session)
    run(session, "python", "-m", "bench", *session.posargs)


# Defects the fast loop must catch, each as edits of the template (a text that
# occurs exactly once in the file, and what replaces it): the session `mutations`
# applies each to a copy of this repository and shows `pytest -m "not slow"` fail
# there; tests/test_tooling.py checks that every one still applies.
APP = "{{cookiecutter.project_slug}}/hello_world/app.py"
MUTATIONS = {
    "the named route appends the caller to the logger's keys (a warm leak)": {
        APP: [
            (
                "    name = unquote(name)\n",
                "    name = unquote(name)\n{% if L %}\n"
                "    logger.append_keys(caller=name)\n{% endif %}\n",
            )
        ]
    },
    "app.py no longer percent-decodes the name": {
        APP: [
            ("{% endif %}\nfrom urllib.parse import unquote\n\n", "\n{% endif %}\n"),
            ("    name = unquote(name)\n", ""),
        ]
    },
    "a 500 answers the exception's text": {
        "{{cookiecutter.project_slug}}/hello_world/json_resolver.py": [
            (
                'INTERNAL_SERVER_ERROR, "Internal server error")',
                "INTERNAL_SERVER_ERROR, str(error))",
            )
        ]
    },
    "openapi.json no longer gives the routes their JSON 500": {
        "{{cookiecutter.project_slug}}/hello_world/json_resolver.py": [
            ("            HTTPStatus.INTERNAL_SERVER_ERROR.value: SERVER_ERROR,\n", "")
        ]
    },
    "dev.py check no longer holds openapi.json to the routes": {
        "{{cookiecutter.project_slug}}/dev.py": [("    check_contract()\n", "")]
    },
    "dev.py serve hands the handler the path parameters decoded": {
        "{{cookiecutter.project_slug}}/dev.py": [
            ("import parse_qsl, urlsplit", "import parse_qsl, unquote, urlsplit"),
            (
                "parameters[part[1:-1]] = segments[index]",
                "parameters[part[1:-1]] = unquote(segments[index])",
            ),
        ]
    },
}


def mutate(root: Path, edits: dict[str, list[tuple[str, str]]]) -> None:
    for name, replacements in edits.items():
        path = root / name
        text = path.read_text(encoding="utf-8")
        for old, new in replacements:
            if text.count(old) != 1:
                raise ValueError(f"{name}: {old!r} does not occur exactly once")
            text = text.replace(old, new)
        path.write_text(text, encoding="utf-8")


def repository_copy(target: Path) -> Path:
    """This checkout's files as a commit would hold them (tracked or new, not
    ignored), committed in a new git repository at `target`, sharing .cache/
    (renders are per run; the environments and tools there are made once, under
    locks)."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    for name in filter(None, listed.stdout.split("\0")):
        if (ROOT / name).is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, target / name)
    # Committed, so that HEAD exists there as in a clone (the bench renders from it).
    identity = ["-c", "user.name=mutations", "-c", "user.email=mutations@invalid"]
    commit = [*identity, "-c", "commit.gpgsign=false", "commit", "-q", "--no-verify"]
    for command in (["init", "-q"], ["add", "-A"], [*commit, "-m", "as it is"]):
        subprocess.run(["git", *command], cwd=target, check=True)
    # After the commit: git would hold the link (.gitignore's `.cache/` is a folder).
    (target / ".cache").symlink_to(CACHE, target_is_directory=True)
    return target


# A generated project's own tests that failed, inside the message of the test
# that ran them (test_generated_project_tests.py).
GENERATED_FAILURE = re.compile(r"FAILED (tests/unit/[^\s\[]+(?:\[[^\]]*\])?)")


@nox.session
def mutations(session: nox.Session) -> None:
    """The fast loop (`pytest -m "not slow"`) on a copy of this repository, as it
    is and then with each of MUTATIONS applied: the copy as it is must pass, every
    mutated copy must fail. About five fast loops; run it after changing what the
    fast loop runs or the behaviour a mutation breaks (CONTRIBUTING.md). The
    output of each run is kept in .cache/mutations/."""
    sync(session)
    install_tools(session)
    logs = CACHE / "mutations"
    shutil.rmtree(logs, ignore_errors=True)
    logs.mkdir(parents=True)
    runs = {"none (the repository as it is)": {}, **MUTATIONS}
    outcomes = {}
    with tempfile.TemporaryDirectory(prefix="mutations-") as directory:
        # One snapshot: edits made while the session runs reach none of the runs.
        snapshot = repository_copy(Path(directory) / "repository")
        for number, (label, edits) in enumerate(runs.items()):
            copy = Path(directory) / str(number)
            shutil.copytree(snapshot, copy, symlinks=True)
            mutate(copy, edits)
            log = logs / f"{number}.log"
            session.log(f"{label}: pytest -m 'not slow' (output: {log})")
            with session.chdir(copy), log.open("w", encoding="utf-8") as output:
                # Deselected: it checks that the template is not mutated.
                run(session, "python", "-m", "pytest", "-n", "auto", "--dist",
                    "worksteal", "-m", "not slow", "-p", "no:cacheprovider",
                    "--deselect",
                    "tests/test_tooling.py::test_every_mutation_still_applies",
                    "--tb=short", "-rf", *session.posargs, stdout=output,
                    success_codes=[0, 1])  # fmt: skip
            shutil.rmtree(copy)
            text = log.read_text(encoding="utf-8")
            failed = re.findall(r"^FAILED (\S+)", text, re.MULTILINE)
            failed += [
                f"  its {t}" for t in sorted(set(GENERATED_FAILURE.findall(text)))
            ]
            summary = text.strip().splitlines()[-1] if text.strip() else "no output"
            outcomes[label] = (failed, summary)
    survived = []
    for number, (label, (failed, summary)) in enumerate(outcomes.items()):
        session.log(f"{label}: {summary.strip('= ')}")
        for test in failed:
            session.log(f"    caught by {test}")
        if (number == 0) == bool(failed):
            survived.append(label)
    if survived:
        session.error(
            "the copy as it is must pass and each mutation must fail, not: "
            + "; ".join(survived)
        )
