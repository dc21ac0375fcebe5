"""The generated projects' environments and the interpreters they need: one venv per
distinct set of dev pins (ProjectEnvironments), the Quick start's environments
shared between runs, the fast loop's stand-in for `dev.py setup`, the runtime's
Python found on PATH, and a stock Python whose bundled pip is old."""

from __future__ import annotations

import functools
import os
import sys
import sysconfig
from pathlib import Path

import pytest

from matrix import CHOICES
from support.pins import requirement_lines
from support.processes import clean_environment, run, tool
from support.shared import CACHE, digest, once

# The Python running the tests, as a project's runtime: what a test runs `dev.py`
# with when the command stops before it needs an environment, or uses the tests'.
THIS_RUNTIME = "python{}.{}".format(*sys.version_info[:2])


def require_this_runtime() -> None:
    """Skip unless the Python running the tests is an offered runtime."""
    if THIS_RUNTIME not in CHOICES["runtime"]:
        pytest.skip(f"{THIS_RUNTIME} (running the tests) is not an offered runtime")


class ProjectEnvironments:
    """One virtual environment per distinct set of generated dev requirements,
    shared by every bake that needs it and kept in .cache/ between runs (made once
    under a lock: pytest-xdist workers and concurrent runs wait for each other)."""

    def __init__(self, root: Path):
        self.root = root

    def python_for(self, project: Path) -> Path:
        requirements = sorted(requirement_lines(project / "requirements-dev.txt"))
        env = self.root / digest("\n".join(requirements))

        def make(env: Path) -> None:
            uv_install(env, requirements)

        once(env, make, stamp="\n".join(requirements))
        return env / "bin" / "python"


def uv_install(env: Path, requirements: list[str]) -> None:
    """A new virtual environment for the Python running the tests, with exactly
    these requirements, through uv (bytecode compiled: each is imported by many
    test processes)."""
    for command in (
        ["venv", "--quiet", "--python", sys.executable, str(env)],
        ["pip", "install", "--quiet", "--compile-bytecode"]
        + ["--python", str(env / "bin" / "python"), *requirements],
    ):
        done = run([tool("uv"), *command])
        assert done.returncode == 0, done.stderr


def pip_install(
    python: str, target: Path, requirements: list[str], compile: bool = False
) -> None:
    installed = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--compile" if compile else "--no-compile",
            "--target",
            str(target),
            *requirements,
        ],
        env=clean_environment(),
    )
    assert installed.returncode == 0, installed.stderr


@functools.cache
def interpreter_on_path(runtime: str) -> str | None:
    """The first working `pythonX.Y` on PATH, searched the way sam build does, as
    its own executable (a pyenv shim runs only with the caller's PATH, and a
    version it does not enable exists but fails to run)."""
    name = runtime  # "python3.13"
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        probe = run(
            [
                str(candidate),
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
            ]
        )
        version, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and version == name[len("python") :]:
            return executable
    return None


def require_interpreter(runtime: str) -> str:
    python = interpreter_on_path(runtime)
    if python is None:
        pytest.skip(f"{runtime} interpreter not on this machine (not found on PATH)")
    return python


# Pip matches a dependency's extras to a hash-pinned requirement from 23.3 on (pip
# PR #12095): the Quick start must work with the older ones that Python 3.11.0-3.11.7
# and 3.12.0-3.12.1 bundle.
FIXED_PIP = (23, 3)


@functools.cache
def stock_python() -> tuple[str, str, str] | None:
    """(runtime, its python, the pip it bundles): the first python3.11 or python3.12
    on PATH that is an installed Python, not a virtual environment, whose bundled
    pip is older than FIXED_PIP; None if there is none."""
    probe = "import sys, pip; print(sys.prefix == sys.base_prefix, pip.__version__)"
    for runtime in ("python3.11", "python3.12"):
        python = interpreter_on_path(runtime)
        if python is None:
            continue
        found = run([python, "-c", probe], env=clean_environment())
        installed, _, version = found.stdout.strip().partition(" ")
        numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
        if installed == "True" and numbers < FIXED_PIP:
            return runtime, python, version
    return None


def shared_environments(project: Path, python: str) -> None:
    """.venv and .venv-sam made with uv (seeded with pip, as `python -m venv` makes
    them) once per distinct Python and pins, kept in .cache/ and linked into the
    project: its own `dev.py setup` then finds them and completes them, as on a
    rerun."""
    for venv, requirements in (
        (".venv", "requirements-dev.txt"),
        (".venv-sam", "requirements-sam.txt"),
    ):
        lines = "\n".join(sorted(requirement_lines(project / requirements)))

        def make(target: Path, requirements=requirements) -> None:
            for command in (
                ["venv", "--quiet", "--seed", "--python", python, str(target)],
                ["pip", "install", "--quiet", "--python", str(target / "bin/python")]
                + ["-r", requirements],
            ):
                done = run([tool("uv"), *command], cwd=project)
                assert done.returncode == 0, done.stderr

        name = f"quickstart-{venv[1:]}-{digest(python + lines)}"
        shared = once(CACHE / "envs" / name, make, stamp=lines)
        (project / venv).symlink_to(shared, target_is_directory=True)


def runner_environment(
    project: Path, packages: Path | None = None, name: str = ".venv"
) -> None:
    """The fast loop's stand-in for `dev.py setup` (the slow tests run the real one):
    the project's .venv (or .venv-sam) a new virtual environment that sees the
    packages of `packages`, a site-packages folder of this Python (by default the
    tests': serve needs PyYAML, and the app no more when it imports nothing else),
    marked complete by the project's own dev.py."""
    venv = project / name
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    (site,) = venv.glob("lib/python*/site-packages")
    seen = packages or Path(sysconfig.get_paths()["purelib"])
    (site / "runner.pth").write_text(f"{seen}\n")
    constant = {".venv": "VENV", ".venv-sam": "SAM_VENV"}[name]
    marked = run(
        [sys.executable, "-c", f"import dev; dev.mark_set_up(dev.{constant})"],
        cwd=project,
    )
    assert marked.returncode == 0, marked.stderr
