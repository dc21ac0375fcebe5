"""Build this function for Lambda: `sam build` runs it through the Makefile.

sam build's standard Python builder unpacks wheels as they are: no bytecode, so
Lambda compiles every module the function imports at every cold start (its code
directory is read-only), and it bundles botocore (pulled in by aws-xray-sdk)
although Lambda's Python runtime already has it, compiled. Instead, this script

1. installs requirements.txt for Lambda's platform into the artifact directory
   (when it is a lock with hashes, every file checked against them and nothing
   resolved beyond it: docs/dependencies.md);
2. removes boto3, botocore and the packages only they need, unless
   requirements.txt names them: Lambda's Python runtime provides them;
3. copies the function's code (this directory but the Makefile and this script);
4. compiles everything to bytecode for this Python as checked-hash .pyc files:
   valid whatever timestamps the files get (sam zips them dated 1980, which makes
   timestamp-based .pyc files stale on arrival), and never used for a source
   that has changed since.

Run it with the runtime's Python: python{{ cookiecutter.runtime | replace("python", "") }} build_function.py ARTIFACTS_DIR
Standard library and pip only.
"""

from __future__ import annotations

import compileall
import importlib.metadata
import py_compile
import re
import shutil
import subprocess
import sys
from pathlib import Path

PYTHON = ({{ cookiecutter.runtime | replace("python", "") | replace(".", ", ") }})
{% set machine = "aarch64" if cookiecutter.architecture == "arm64" else "x86_64" %}
# The wheels Lambda's OS loads: {{ "Amazon Linux 2 (glibc 2.26)" if cookiecutter.runtime == "python3.11" else "Amazon Linux 2023 (glibc 2.34)" }}.
PLATFORMS = [
{% if cookiecutter.runtime != "python3.11" %}
    "manylinux_2_34_{{ machine }}",
    "manylinux_2_28_{{ machine }}",
{% endif %}
    "manylinux2014_{{ machine }}",
]
# What Lambda's Python runtime ships: left out unless requirements.txt names them.
PROVIDED_BY_RUNTIME = {"boto3", "botocore", "s3transfer"}
HERE = Path(__file__).resolve().parent
NOT_CODE = ("Makefile", Path(__file__).name, "__pycache__", "*.pyc", ".*")


def canonical(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def requirement_names(lines: list[str]) -> set[str]:
    """The distribution names a requirements file asks for."""
    names = set()
    for line in lines:
        line = line.split("#", 1)[0].strip()
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if match and not line.startswith("-"):
            names.add(canonical(match.group()))
    return names


def hashed(lines: list[str]) -> bool:
    """Whether a requirements file pins files by hash (a lock)."""
    return any("--hash=" in line.split("#", 1)[0] for line in lines)


def dependencies(distribution: importlib.metadata.Distribution) -> set[str]:
    """Names of what a distribution requires, extras left out (over-approximated:
    environment markers are ignored, so more is kept, never less)."""
    names = set()
    for requirement in distribution.requires or []:
        if re.search(r"\bextra\s*==", requirement):
            continue
        match = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", requirement)
        if match:
            names.add(canonical(match.group()))
    return names


def provided_by_runtime(target: Path, requested: set[str]) -> list[str]:
    """The installed distributions to leave out: PROVIDED_BY_RUNTIME, then every
    distribution that only those being left out require."""
    installed = {
        canonical(d.metadata["Name"]): d
        for d in importlib.metadata.distributions(path=[str(target)])
    }
    requires = {name: dependencies(d) for name, d in installed.items()}
    removed = {n for n in PROVIDED_BY_RUNTIME if n in installed} - requested
    changed = True
    while changed:
        changed = False
        kept = set(installed) - removed
        needed_by_kept = set().union(*(requires[n] for n in kept))
        needed_by_removed = set().union(*(requires[n] for n in removed))
        for name in needed_by_removed & (kept - needed_by_kept - requested):
            removed.add(name)
            changed = True
    return sorted(removed)


def remove_distribution(target: Path, name: str) -> None:
    """Delete the files a distribution installed (its RECORD), then empty folders."""
    (distribution,) = [
        d
        for d in importlib.metadata.distributions(path=[str(target)])
        if canonical(d.metadata["Name"]) == name
    ]
    folders = set()
    for file in distribution.files or []:
        path = Path(str(distribution.locate_file(file))).resolve()
        if target in path.parents:
            path.unlink(missing_ok=True)
            folders.update(p for p in path.parents if target in p.parents)
    for folder in sorted(folders, key=lambda p: len(p.parts), reverse=True):
        shutil.rmtree(folder / "__pycache__", ignore_errors=True)
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()


def install(requirements: Path, target: Path) -> None:
    lines = requirements.read_text(encoding="utf-8").splitlines()
    if not requirement_names(lines):
        return
    # A lock with hashes: pip checks every file it installs against them, and
    # installs what the lock lists, no dependency it would resolve itself.
    locked = ["--require-hashes", "--no-deps"] if hashed(lines) else []
    command = [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--quiet",
        "--disable-pip-version-check",
        "--no-compile",
        "--requirement",
        str(requirements),
        "--target",
        str(target),
        *(argument for p in PLATFORMS for argument in ("--platform", p)),
        "--implementation",
        "cp",
        "--python-version",
        ".".join(map(str, PYTHON)),
        "--only-binary=:all:",
        *locked,
    ]
    # Fixed arguments, run with this very Python: nothing untrusted reaches it.
    subprocess.run(command, check=True)  # noqa: S603


def compile_bytecode(target: Path) -> bool:
    """Compile every module for this Python, hash-based. Checking the hash costs
    Python one read of the source per import (not measurable against the cold
    start here) and means an edited source is never run from stale bytecode."""
    return compileall.compile_dir(
        target,
        quiet=1,
        force=True,
        workers=0,
        invalidation_mode=py_compile.PycInvalidationMode.CHECKED_HASH,
    )


def build(artifacts: Path) -> None:
    artifacts = artifacts.resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    requirements = HERE / "requirements.txt"
    install(requirements, artifacts)
    requested = requirement_names(requirements.read_text(encoding="utf-8").splitlines())
    for name in provided_by_runtime(artifacts, requested):
        remove_distribution(artifacts, name)
    shutil.copytree(
        HERE, artifacts, ignore=shutil.ignore_patterns(*NOT_CODE), dirs_exist_ok=True
    )
    if not compile_bytecode(artifacts):
        # A module that does not compile stays source only: Python reports the
        # error when (and if) it is imported, as it would without this build.
        print("warning: some modules did not compile", file=sys.stderr)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(f"usage: python{PYTHON[0]}.{PYTHON[1]} {argv[0]} ARTIFACTS_DIR")
        return 2
    if sys.version_info[:2] != PYTHON:
        print(
            f"error: run with python{PYTHON[0]}.{PYTHON[1]}, the function's runtime "
            "(bytecode is specific to one Python version)",
            file=sys.stderr,
        )
        return 1
    build(Path(argv[1]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
