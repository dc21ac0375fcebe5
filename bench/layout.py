"""Run in Lambda's layout: what a function's process sees on Lambda, offline.

- /var/task: a read-only copy of the function's build output;
- /opt/python: a stand-in for the public Powertools layer, built as its
  Dockerfile builds it (powertools-lambda-python, layer_v3/docker/Dockerfile):
  `aws-lambda-powertools[all]` at the pinned version, boto3, botocore and their
  dependencies removed, tests removed, shared objects stripped, every .pyc deleted.
  --subjects ... layer_bytecode=checked-hash measures it compiled instead;
- /var/runtime: boto3 and botocore at the pinned version, with their bytecode, as
  the runtime ships them;
- sys.path in that order (PYTHONPATH), no bytecode written, Lambda's environment
  variables and the function's own from its built template.yaml.
"""

from __future__ import annotations

import fnmatch
import shutil
from pathlib import Path

from matrix import COOKIECUTTER_JSON, POWERTOOLS_VERSION

from .build import FUNCTION, output_of

BOTO3 = COOKIECUTTER_JSON["_boto3_version"]
# The Dockerfile's `rm -rf boto* s3transfer* *dateutil* urllib3* six* jmespath*`.
LAYER_REMOVES = ("boto*", "s3transfer*", "*dateutil*", "urllib3*", "six*", "jmespath*")
TRACE_HEADER = (
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def files_under(paths) -> set[Path]:
    return {p for path in paths for p in path.rglob("*")}


def read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def fresh(path: Path) -> Path:
    if path.exists():
        for p in [path, *path.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)
        shutil.rmtree(path)
    path.mkdir(parents=True)
    return path


def runtime_dir(python: Path, work: Path) -> Path:
    """boto3 and botocore installed with their bytecode, as in /var/runtime."""
    runtime = work / f"runtime-{python.name}"
    marker = runtime / f".boto3-{BOTO3}"
    if not marker.exists():
        fresh(runtime)
        output_of(
            [python, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
            + ["--target", runtime, f"boto3=={BOTO3}"]
        )
        marker.touch()
        read_only(runtime)
    return runtime


def layer_dir(python: Path, work: Path, arch: str, bytecode: str) -> Path:
    """The layer's /opt/python, without bytecode or compiled (--invalidation-mode)."""
    layer = work / f"layer-{python.name}-{arch}-{bytecode}"
    marker = layer / f".powertools-{POWERTOOLS_VERSION}"
    if marker.exists():
        return layer / "python"
    target = fresh(layer) / "python"
    if bytecode == "none":
        machine = "aarch64" if arch == "arm64" else "x86_64"
        version = python.name.removeprefix("python")
        output_of([python, "-m", "pip", "install", "-q"] + [
            "--disable-pip-version-check", "--no-compile", "--target", target,
            "--implementation", "cp",
            "--platform", f"manylinux2014_{machine}", "--python-version", version,
            "--only-binary=:all:", f"aws-lambda-powertools[all]=={POWERTOOLS_VERSION}",
        ])  # fmt: skip
        for entry in list(target.iterdir()):
            if any(fnmatch.fnmatch(entry.name, p) for p in LAYER_REMOVES):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        strip = shutil.which("strip")  # the build is for this host's architecture
        for path in list(target.rglob("*")):
            if path.is_file() and "tests" in path.relative_to(target).parts[:-1]:
                path.unlink()
            elif path.suffix == ".so" and strip:
                output_of([strip, path])
    else:
        shutil.copytree(
            layer_dir(python, work, arch, "none"), target, dirs_exist_ok=True
        )
        output_of(
            [python, "-m", "compileall", "-q", "-j", "0"]
            + ["--invalidation-mode", bytecode, target]
        )
    marker.touch()
    read_only(layer)
    return target


def task_dir(build: Path, work: Path, name: str) -> Path:
    """A read-only copy of the function's build output: Lambda's /var/task."""
    task = fresh(work / "task" / name)
    shutil.copytree(build / FUNCTION, task, dirs_exist_ok=True)
    read_only(task)
    return task


def function_variables(build: Path) -> dict[str, str]:
    """The Environment.Variables the built template.yaml gives the function."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse((build / "template.yaml").read_text("utf-8"))
    function = template["Resources"][FUNCTION]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in variables.items() if not isinstance(v, dict)}


def environment(runtime: str, task: Path, path: list[Path], build: Path) -> dict:
    return {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": ":".join(map(str, path)),
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(path[-1]),
        "_HANDLER": "app.lambda_handler",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
        # Tracer and the X-Ray SDK as Lambda sets them up; segments go to a local
        # UDP port nobody listens on.
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
        **function_variables(build),
    }
