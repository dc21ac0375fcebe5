"""Rendered files are plain LF text: no CR, no trailing whitespace, one final newline.

Jinja whitespace control is part of the product; a checkout on Windows must not
turn the template into CRLF either (.gitattributes). The quick subset runs in the
fast loop, the rest of the full product under `slow`.
"""

from __future__ import annotations

import functools
import re
from pathlib import Path

import pytest

from matrix import ROOT, matrix_params
from support.processes import run
from support.renders import SCOPES, check_each, scope_matrix

COMBINATIONS = matrix_params()
TRAILING_WHITESPACE = re.compile(rb"[ \t]+$", re.MULTILINE)


# Once per distinct file in a process: the matrix renders most files alike.
@functools.cache
def text_problems(name: str, data: bytes) -> tuple[str, ...]:
    problems = []
    if b"\r" in data:
        problems.append(f"{name}: CR line ending")
    for match in TRAILING_WHITESPACE.finditer(data):
        line = data.count(b"\n", 0, match.start()) + 1
        problems.append(f"{name}:{line}: trailing whitespace")
    if data and not data.endswith(b"\n"):
        problems.append(f"{name}: no final newline")
    if data.endswith(b"\n\n"):
        problems.append(f"{name}: blank lines at the end")
    return tuple(problems)


@pytest.mark.parametrize("scope", SCOPES)
def test_rendered_files_are_clean_lf_text(bake, scope):
    def check(project: Path, answers: dict) -> None:
        problems = [
            problem
            for path in sorted(project.rglob("*"))
            if path.is_file()
            for problem in text_problems(
                path.relative_to(project).as_posix(), path.read_bytes()
            )
        ]
        assert problems == []

    check_each(bake.each(scope_matrix(scope)), check)


def test_checkouts_keep_lf_endings():
    """Cookiecutter copies the bytes it reads: a CRLF checkout would render CRLF."""
    lines = (ROOT / ".gitattributes").read_text(encoding="utf-8").splitlines()
    assert "* text=auto eol=lf" in lines
    template_files = sorted(
        path.relative_to(ROOT).as_posix()
        for part in ("hooks", "{{cookiecutter.project_slug}}")
        for path in (ROOT / part).rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    )
    attributes = run(["git", "check-attr", "eol", "--", *template_files], cwd=ROOT)
    assert attributes.returncode == 0, attributes.stderr
    eol = [line.rsplit(": ", 1)[-1] for line in attributes.stdout.splitlines()]
    assert eol == ["lf"] * len(template_files)
