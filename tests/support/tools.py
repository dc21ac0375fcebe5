"""The checkers whose pins clash with aws-sam-cli's (.ci/tools.txt): each in a venv
of its own under .cache/tools/, installed by noxfile.py install_tools(); a test that
needs one missing skips locally and fails in CI (conftest.py counts the skips)."""

from __future__ import annotations

import functools
import importlib.metadata
import os
import re

import pytest

from matrix import ROOT
from support.shared import CACHE

# Tools whose pins clash with aws-sam-cli's live in a venv each under .cache/tools/,
# installed by noxfile.py (session full) from the exact pins in .ci/tools.txt.
TOOL_PINS = dict(
    line.strip().split("==")
    for line in (ROOT / ".ci" / "tools.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)
# How to install them alone; every nox session that runs tests installs them.
INSTALL_TOOLS = ".venv/bin/nox -s tools"
# The reason a test skips for a missing tool (conftest.py counts them at the end).
MISSING_TOOL = re.compile(r"(?P<tool>[\w-]+) not installed in \S+: ")


def isolated_tool(name: str, command: str | None = None) -> str:
    """The executable `command` (by default the name) of the pinned tool `name`
    (.ci/tools.txt); fails in CI (CI set), skips locally, if absent."""
    executable = CACHE / "tools" / name / "bin" / (command or name)
    if not executable.exists():
        reason = (
            f"{name} not installed in {executable.parent.parent}: "
            f"{INSTALL_TOOLS} installs it"
        )
        assert MISSING_TOOL.match(reason)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    assert installed_version(name) == TOOL_PINS[name], (name, TOOL_PINS[name])
    return str(executable)


@functools.cache
def installed_version(name: str) -> str:
    """The version of `name` installed in its venv, as its distribution's metadata
    says (what `--version` would print, without starting the tool: checkov takes
    seconds to start)."""
    venv = CACHE / "tools" / name
    (site,) = venv.glob("lib/python*/site-packages")
    (distribution,) = importlib.metadata.distributions(name=name, path=[str(site)])
    return distribution.version
