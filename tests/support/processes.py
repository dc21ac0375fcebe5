"""Running processes: a command's result, the pinned tools installed beside the
Python that runs the tests, and the environment a user's shell has."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(command, check=False, **kwargs)


def python_m(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m module args` with the Python running the tests (the pinned tools
    installed beside it, whichever interpreter their console scripts name); it
    must succeed."""
    result = run([sys.executable, "-m", module, *args], **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def tool(name: str) -> str:
    """A console script installed beside the Python running the tests."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name) or name


def clean_environment() -> dict[str, str]:
    """The environment a user's shell has: none of ours that changes the app."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "PYTEST_", "PYTHON"))
    }


def user_shell(python: str) -> dict[str, str]:
    """A user's shell with the runtime's Python first on PATH."""
    env = clean_environment()
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def bash(script: str, cwd: Path, env: dict[str, str]):
    return run(["bash", "-euo", "pipefail", "-c", script], cwd=cwd, env=env)


def base_env() -> dict[str, str]:
    return {"PATH": str(Path(tool("python")).parent) + os.pathsep + os.environ["PATH"]}
