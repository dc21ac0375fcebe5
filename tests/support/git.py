"""git as the tests run it: an identity of its own and no user or system
configuration, so that commits work on any machine and nothing of the user's
git settings changes what a test sees."""

from __future__ import annotations

import os
from pathlib import Path

from support.processes import run

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
