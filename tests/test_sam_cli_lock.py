"""The SAM CLI's lock (requirements-sam.txt, ci=github), which the workflow installs
in the job holding id-token: every package pinned with its hashes, made by the
command the lock and docs/deploy.md give, and complete for every runtime offered."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from matrix import (
    COOKIECUTTER_JSON,
    ROOT,
    values,
)
from support.github import github_combinations
from support.pins import LOCK, lock_command, lock_pins
from support.processes import run, tool
from support.renders import SCOPES, check_each, session_answers
from support.shared import file_digest

RUNTIMES = values("runtime")


@pytest.mark.parametrize("scope", SCOPES)
def test_sam_cli_lock_pins_every_package_with_hashes(bake, scope):
    """Every requirement of requirements-sam.txt is an exact pin with the hashes of
    its files; the SAM CLI's is cookiecutter.json's and requirements-sam.in's; the
    lock was resolved for every runtime offered, from the lowest (uv --universal),
    by the command docs/dependencies.md gives."""

    def check(project: Path, answers: dict) -> None:
        lock = (project / LOCK).read_text(encoding="utf-8")
        requirement_lines = [
            line
            for line in lock.splitlines()
            if line and not line.startswith(("#", " "))
        ]
        pins = lock_pins(lock)
        assert len(pins) == len(requirement_lines) > 50  # every requirement, hashed
        (sam,) = [p for p in pins if p["name"] == "aws-sam-cli"]
        assert sam["version"] == COOKIECUTTER_JSON["_sam_cli_version"]
        source = (project / "requirements-sam.in").read_text(encoding="utf-8")
        assert re.findall(r"^aws-sam-cli==\S+$", source, re.MULTILINE) == [
            f"aws-sam-cli=={sam['version']}"
        ]
        lowest = min(RUNTIMES, key=lambda r: tuple(map(int, r[6:].split("."))))
        command = lock_command(lock)
        assert command == (
            "uv pip compile --universal --generate-hashes --python-version "
            f"{lowest[6:]} requirements-sam.in -o requirements-sam.txt"
        )
        # Dependabot compiles it again with the options the file shows (--universal,
        # hashes): uv_pip_compile_options_from_compiled_file in dependabot-core,
        # python/lib/dependabot/python/file_updater/pip_compile_file_updater.rb.
        page = (project / "docs" / "dependencies.md").read_text(encoding="utf-8")
        assert command in page

    check_each(
        bake.alike(
            github_combinations(scope),
            [LOCK, "requirements-sam.in", "docs/dependencies.md"],
        ),
        check,
    )


def normalized_pins(text: str) -> set[str]:
    """name==version[; marker] of each requirement, hashes and comments left out."""
    return {
        " ; ".join(filter(None, (f"{p['name'].lower()}=={p['version']}", p["marker"])))
        for p in lock_pins(text)
    }


@pytest.fixture(scope="session")
def lock_resolutions(request, bake) -> dict[str, tuple]:
    """For each distinct lock: uv resolving the lock's own pins again, for every
    Python from the lowest runtime on (--universal: python3.14 included, resolved
    for that version without an interpreter of it)."""
    results = {}
    for rendering in bake.distinct(LOCK, session_answers(request, "lock_resolutions")):
        lowest = lock_command(rendering.path.read_text(encoding="utf-8")).split()[6]
        resolved = run(
            [tool("uv"), "pip", "compile", "--quiet", "--universal"]
            + ["--generate-hashes", "--python-version", lowest, str(rendering.path)],
            env={**os.environ, "UV_CACHE_DIR": str(ROOT / ".cache" / "uv")},
        )
        results[rendering.digest] = resolved
    return results


@pytest.mark.parametrize("scope", SCOPES)
def test_sam_cli_lock_resolves_alone_for_every_runtime(bake, lock_resolutions, scope):
    """The lock is complete and consistent for every runtime: resolving its own pins
    again gives exactly its requirements, markers and hashes (nothing missing, no
    conflict, no file without its hash)."""

    def check(project: Path, answers: dict) -> None:
        lock = (project / LOCK).read_text(encoding="utf-8")
        resolved = lock_resolutions[file_digest(project / LOCK)]
        assert resolved.returncode == 0, resolved.stderr
        assert normalized_pins(resolved.stdout) == normalized_pins(lock)
        hashes = {p["name"]: sorted(p["hashes"].split()) for p in lock_pins(lock)}
        again = {
            p["name"]: sorted(p["hashes"].split()) for p in lock_pins(resolved.stdout)
        }
        assert again == hashes

    check_each(bake.alike(github_combinations(scope), [LOCK]), check)
