"""build_method=makefile: the real `sam build` runs the generated Makefile and
build_function.py, and the artifact holds what the option promises: bytecode for
the runtime's Python next to every module, and no boto3/botocore (Lambda's runtime
has them); a requirements.txt with hashes is installed as a lock (every file
checked, nothing resolved beyond it)."""

from __future__ import annotations

import base64
import hashlib
import os
import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

from matrix import DEFAULTS, makefile_builds
from support.environments import require_interpreter
from support.processes import run, tool
from support.renders import working_copy

RUNTIME = DEFAULTS["runtime"]
TAG = "cpython-" + RUNTIME.removeprefix("python").replace(".", "")


@pytest.mark.slow
@pytest.mark.parametrize(
    "answers", makefile_builds(), ids=lambda a: a["powertools_source"]
)
def test_makefile_build_ships_bytecode_and_no_runtime_sdk(bake, tmp_path, answers):
    if shutil.which("make") is None:
        pytest.skip("sam build with build_method=makefile needs make (not on PATH)")
    require_interpreter(RUNTIME)
    source = answers["powertools_source"]
    project = working_copy(bake, answers, tmp_path)
    env = {**os.environ, "SAM_CLI_TELEMETRY": "0"}
    built = subprocess.run(
        [tool("sam"), "build", "--no-cached"],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    artifact = project / ".aws-sam" / "build" / "HelloWorldFunction"

    top = {p.name for p in artifact.iterdir()}
    assert {"app.py", "json_resolver.py"} <= top
    assert not top & {"Makefile", "build_function.py", "botocore", "boto3", "urllib3"}
    if source == "pip":
        assert {"aws_lambda_powertools", "aws_xray_sdk", "jmespath"} <= top
    missing = [
        p
        for p in artifact.rglob("*.py")
        if not (p.parent / "__pycache__" / f"{p.stem}.{TAG}.pyc").exists()
    ]
    assert missing == []
    pyc = (artifact / "__pycache__" / f"app.{TAG}.pyc").read_bytes()
    # PEP 552 flags: hash-based, checked against the source.
    assert int.from_bytes(pyc[4:8], "little") == 0b11


def pure_wheel(directory: Path, name: str, requires: str) -> Path:
    """A minimal py3-none-any wheel of one module, which requires `requires`."""
    wheel = directory / f"{name}-1.0-py3-none-any.whl"
    info = f"{name}-1.0.dist-info"
    files = {
        f"{name}.py": "VALUE = 1\n",
        f"{info}/METADATA": f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n"
        f"Requires-Dist: {requires}\n",
        f"{info}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: true\n"
        "Tag: py3-none-any\n",
    }
    record = []
    with zipfile.ZipFile(wheel, "w") as archive:
        for path, text in files.items():
            archive.writestr(path, text)
            digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest())
            record.append(f"{path},sha256={digest.decode().rstrip('=')},{len(text)}")
        archive.writestr(f"{info}/RECORD", "\n".join([*record, f"{info}/RECORD,,"]))
    return wheel


@pytest.mark.slow
def test_makefile_build_installs_a_hashed_lock_as_a_lock(bake, tmp_path):
    """docs/dependencies.md: with hashes in requirements.txt, build_function.py
    checks every file against them and resolves nothing else (the wheel requires a
    package no index has); a file whose hash differs stops the build. Offline: pip's
    own PIP_NO_INDEX and PIP_FIND_LINKS point it at a local wheel."""
    python = require_interpreter(RUNTIME)
    answers = {**DEFAULTS, "build_method": "makefile", "powertools_source": "layer"}
    project = working_copy(bake, answers, tmp_path / "project")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    wheel = pure_wheel(wheels, "lockedpkg", "not-on-any-index")
    good = hashlib.sha256(wheel.read_bytes()).hexdigest()
    env = {**os.environ, "PIP_NO_INDEX": "1", "PIP_FIND_LINKS": str(wheels)}
    requirements = project / "hello_world" / "requirements.txt"
    outcomes = {}
    for label, digest in (("good", good), ("tampered", "0" * 64)):
        requirements.write_text(f"lockedpkg==1.0 \\\n    --hash=sha256:{digest}\n")
        target = tmp_path / label
        command = [python, "hello_world/build_function.py", str(target)]
        outcomes[label] = run(command, cwd=project, env=env), target
    built, target = outcomes["good"]
    assert built.returncode == 0, built.stdout + built.stderr
    assert (target / "lockedpkg.py").exists()
    refused, target = outcomes["tampered"]
    assert refused.returncode != 0
    assert "DO NOT MATCH THE HASHES" in refused.stdout + refused.stderr
    assert not (target / "lockedpkg.py").exists()
