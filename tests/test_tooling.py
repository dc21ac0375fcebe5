"""The repository's own tooling: one test command, in README and in .ci/run, and
one command per loop (noxfile.py); exact pins everywhere."""

from __future__ import annotations

import re
import sys
import tomllib

from helpers import TOOL_PINS, run
from matrix import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
EXACT = re.compile(r"[A-Za-z0-9][\w.-]*(\[[\w,]+\])?==[\w.]+")


def readme_test_command() -> str:
    section = README[README.index("## Run the tests") :]
    block = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL)[1]
    (command,) = block.splitlines()
    return command


def test_ci_runs_exactly_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == readme_test_command()


def test_one_session_per_loop():
    listed = run([sys.executable, "-m", "nox", "--list", "--no-color"], cwd=ROOT)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    sessions = re.findall(r"^[*-] (\w+)", listed.stdout, re.MULTILINE)
    assert sessions == ["fast", "full", "lint", "bake", "bench"], listed.stdout


def test_tools_are_pinned_exactly():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = pyproject["dependency-groups"]["dev"]
    assert [r for r in dev if not EXACT.fullmatch(r)] == []
    assert all(re.fullmatch(r"\d[\w.]*", v) for v in TOOL_PINS.values()), TOOL_PINS
