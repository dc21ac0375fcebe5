"""pre-commit runs the ruff the tests and CI run.

requirements-dev.txt pins ruff (an update changes it there); the ruff hooks in
.pre-commit-config.yaml install their own copy: this test fails until both name
the same version.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_pre_commit_runs_the_pinned_ruff():
    requirements = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    config = (ROOT / ".pre-commit-config.yaml").read_text(encoding="utf-8")
    (pinned,) = re.findall(r"^ruff==([\w.]+)$", requirements, re.MULTILINE)
    hooks = set(re.findall(r"\bruff==([\w.]+)", config))
    assert hooks == {pinned}, (
        f".pre-commit-config.yaml installs ruff {sorted(hooks)}, requirements-dev.txt "
        f"pins {pinned}: put {pinned} in the ruff hooks' additional_dependencies"
    )
