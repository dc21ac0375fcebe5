"""build_method=makefile: the real `sam build` runs the generated Makefile and
build_function.py, and the artifact holds what the option promises: bytecode for
the runtime's Python next to every module, and no boto3/botocore (Lambda's runtime
has them)."""

from __future__ import annotations

import os
import shutil
import subprocess

import pytest

from helpers import require_interpreter, tool, working_copy
from matrix import DEFAULTS, makefile_builds

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
    assert "app.py" in top
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
