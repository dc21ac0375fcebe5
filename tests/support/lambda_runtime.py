"""Lambda's runtime, offline: the Lambda Runtime API and the X-Ray daemon (a UDP
socket) as stand-ins, the runtime's own directory (awslambdaric and boto3), and
serve(): a `sam build` output run by awslambdaric the way Lambda runs it, every
invocation handed out in order, with what it wrote and sent."""

from __future__ import annotations

import functools
import json
import platform
import secrets
import shutil
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from matrix import COOKIECUTTER_JSON
from support.documents import REGION, environment_variables, function_properties
from support.environments import pip_install, require_interpreter
from support.layer import public_layer
from support.runtime_api import (
    Case,
    Invocation,
    RuntimeApi,
    XRayDaemon,
    new_invocation,
    x_ray_documents,
)
from support.shared import CACHE, once

# The runtime interface client Lambda's managed Python runtimes run.
AWSLAMBDARIC_VERSION = "4.2.2"
# The boto3 of Lambda's runtime: the one the generated requirements-dev.txt pins.
BOTO3_VERSION = COOKIECUTTER_JSON["_boto3_version"]
# Built wheels (wrapt, with tracing) and awslambdaric load only on their own
# platform: build for this machine's architecture.
HOST_ARCHITECTURE = {
    "x86_64": "x86_64",
    "amd64": "x86_64",
    "aarch64": "arm64",
    "arm64": "arm64",
}.get(platform.machine().lower())
FUNCTION_NAME = "hello-powertools-HelloWorldFunction-Ab12Cd34Ef56"
ACCOUNT = "123456789012"
# Secrets a client sends, and the role credentials Lambda puts in the
# environment: none may reach any output. Random per session, so a match is
# never a coincidence.
BEARER_TOKEN = secrets.token_hex(16)
SESSION_COOKIE = secrets.token_hex(16)
SECRET_ACCESS_KEY = secrets.token_hex(20)
SESSION_TOKEN = secrets.token_hex(32)
SECRETS = (BEARER_TOKEN, SESSION_COOKIE, SECRET_ACCESS_KEY, SESSION_TOKEN)


# --------------------------------------------------------------------------
# The runtime: what it puts on sys.path after the function


@functools.cache
def runtime_directory(runtime: str) -> Path:
    """/var/runtime: awslambdaric and the runtime's boto3, compiled."""
    python = require_interpreter(runtime)
    name = (
        f"{runtime}-{platform.machine()}"
        f"-awslambdaric-{AWSLAMBDARIC_VERSION}-boto3-{BOTO3_VERSION}"
    )
    requirements = [f"awslambdaric=={AWSLAMBDARIC_VERSION}", f"boto3=={BOTO3_VERSION}"]
    return once(
        CACHE / "lambda-runtime" / name,
        lambda target: pip_install(python, target, requirements, compile=True),
    )


# --------------------------------------------------------------------------
# One execution environment per combination


@dataclass
class LambdaRun:
    variables: dict[str, str]  # the function's, from template.yaml
    handler: str
    calls: list[str]  # the Runtime API calls, in order
    invocations: list[Invocation]
    outside: list[str]  # lines written before, between and after invocations
    stdout: str
    stderr: str
    datagrams: list[bytes]
    bytecode_written: list[str]

    telemetry: list[str]  # records logged through the runtime's log channel

    def lines(self) -> list[str]:
        return self.stdout.splitlines() + self.stderr.splitlines() + self.telemetry


# Runs under the runtime's interpreter with -I -S -B: no site-packages, no PYTHON*
# variables, no current directory, no bytecode written. Lambda's order on
# sys.path: the task directory, the layers' python/, the runtime (/var/runtime),
# then the standard library.
#
# The generated routes cannot fail (they only format a greeting), but the path a
# failing route takes (the 500, the logged traceback, the UnhandledErrors metric
# the alarm reads) must run here too. So, as awslambdaric loads the handler's
# module, greeting() -- where the app says business logic goes, called by every
# route -- is wrapped to raise for a request carrying FAIL_HEADER: a stand-in for
# business logic that raises. Nothing else changes, and the app is not edited.
FAIL_HEADER = "X-Fail-On-Purpose"
BOOTSTRAP = """
import importlib.abc, importlib.util, json, runpy, sys
sys.path[:0] = json.loads(sys.argv[1])
handler_module = sys.argv[2].rpartition(".")[0]
fail_header = sys.argv[3]


class FailOnPurpose(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        if name != handler_module:
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        load = spec.loader.exec_module

        def exec_module(module):
            load(module)
            greeting = module.greeting

            def failing(*args, **kwargs):
                if module.app.current_event.headers.get(fail_header):
                    raise RuntimeError("a route made to fail by the test")
                return greeting(*args, **kwargs)

            module.greeting = failing

        spec.loader.exec_module = exec_module
        return spec


sys.meta_path.insert(0, FailOnPurpose())
sys.argv[:] = ["awslambdaric", sys.argv[2]]
runpy.run_module("awslambdaric", run_name="__main__", alter_sys=True)
"""


def read_only_copy(source: Path, destination: Path) -> Path:
    """/var/task: the build output, read-only (as root that is only a statement:
    -B is what keeps Python from writing bytecode, checked after the run)."""
    shutil.copytree(source, destination, symlinks=True)
    for path in [destination, *destination.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o555 if path.is_dir() else 0o444)
    return destination


def bytecode_in(directories: list[Path]) -> set[Path]:
    return {
        path
        for directory in directories
        for path in directory.rglob("*")
        if path.name == "__pycache__" or path.suffix in (".pyc", ".pyo")
    }


def lambda_environment(properties: dict, task, runtime, api, daemon) -> dict:
    """The function's variables from template.yaml, then what Lambda sets."""
    snapstart = properties.get("SnapStart", {}).get("ApplyOn") == "PublishedVersions"
    environment = {
        **environment_variables(properties),
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        # Lambda sets en_US.UTF-8, which this machine may not have.
        "LANG": "C.UTF-8",
        "TZ": ":UTC",
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(runtime),
        "_HANDLER": properties["Handler"],
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{properties['Runtime']}",
        "AWS_REGION": REGION,
        "AWS_DEFAULT_REGION": REGION,
        "AWS_LAMBDA_FUNCTION_NAME": FUNCTION_NAME,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(properties["MemorySize"]),
        # SnapStart runs published versions (the alias "live" points at one).
        "AWS_LAMBDA_FUNCTION_VERSION": "1" if snapstart else "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "snap-start" if snapstart else "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": f"/aws/lambda/{FUNCTION_NAME}",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef",
        "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{api.server_port}",
        "AWS_XRAY_DAEMON_ADDRESS": f"{daemon.host}:{daemon.port}",
        "_AWS_XRAY_DAEMON_ADDRESS": daemon.host,
        "_AWS_XRAY_DAEMON_PORT": str(daemon.port),
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        # The execution role's temporary credentials.
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
        "AWS_SESSION_TOKEN": SESSION_TOKEN,
    }
    # Lambda's own log format stays text (the generated README says why).
    assert "LogFormat" not in properties.get("LoggingConfig", {})
    return environment


def telemetry_records(data: bytes) -> list[tuple[int, int, str]]:
    """The frames awslambdaric writes to Lambda's log channel (its
    FramedTelemetryLogSink: type, length, timestamp, then the message): (start,
    end, message) of each, by byte offset."""
    records, offset = [], 0
    while offset < len(data):
        length = int.from_bytes(data[offset + 4 : offset + 8], "big")
        start, offset = offset, offset + 16 + length
        records.append((start, offset, data[start + 16 : offset].decode()))
    assert offset == len(data), "a truncated log frame"
    return records


def serve(answers: dict, build: Path, cases: list[Case], workdir: Path) -> LambdaRun:
    """Start awslambdaric on a read-only copy of the build, hand it every case,
    stop it when it asks for more; return what it did and wrote."""
    properties = function_properties(build.parents[2] / "template.yaml")
    runtime = properties["Runtime"]
    task = read_only_copy(build, workdir / "task")
    layers = [public_layer(runtime)] if answers["powertools_source"] == "layer" else []
    sys_path = [task, *layers, runtime_directory(runtime)]
    bytecode_before = bytecode_in([task, *layers])
    files_before = sorted(task.rglob("*"))

    invocations = [new_invocation(case) for case in cases]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{FUNCTION_NAME}"
    arn += ":live" if answers["snapstart"] else ""
    # Lambda gives the runtime a log channel (_LAMBDA_TELEMETRY_LOG_FD): the
    # standard library's log records go there, framed, not to stdout.
    output = [workdir / "stdout", workdir / "stderr", workdir / "telemetry"]
    api = RuntimeApi(invocations, output, arn, int(properties["Timeout"]))
    threading.Thread(target=api.serve_forever, daemon=True).start()
    daemon = XRayDaemon()
    command = [require_interpreter(runtime), "-I", "-S", "-B", "-c", BOOTSTRAP]
    command += [json.dumps([str(p) for p in sys_path]), properties["Handler"]]
    command += [FAIL_HEADER]
    try:
        with (
            output[0].open("wb") as stdout,
            output[1].open("wb") as stderr,
            output[2].open("wb") as telemetry,
        ):
            environment = lambda_environment(
                properties, task, sys_path[-1], api, daemon
            )
            environment["_LAMBDA_TELEMETRY_LOG_FD"] = str(telemetry.fileno())
            process = subprocess.Popen(
                command,
                env=environment,
                cwd=task,
                stdout=stdout,
                stderr=stderr,
                pass_fds=(telemetry.fileno(),),
            )
            started = time.monotonic()
            while not api.drained.wait(0.05):
                if process.poll() is not None or time.monotonic() - started > 120:
                    break
            process.terminate()
            process.wait(timeout=30)
        written = [path.read_bytes() for path in output]
        assert api.drained.is_set(), (
            f"the runtime client stopped before the last invocation (exit "
            f"{process.returncode}):\n" + b"\n".join(written).decode()
        )
        datagrams = daemon.received()
    finally:
        api.stopping.set()
        api.shutdown()
        api.server_close()
        daemon.close()

    # An invocation wrote what arrived between its hand-out and its result
    # (awslambdaric flushes stdout and stderr on every write).
    documents = [document for d in datagrams for document in x_ray_documents(d)]
    *written, framed = written
    records = telemetry_records(framed)
    handed_out = iter(r for r in api.requests if r.kind == "next")
    edges: list[tuple[int, ...]] = []
    for invocation in invocations:
        start = next(handed_out)
        (end,) = [r for r in api.requests if r.request_id == invocation.request_id]
        invocation.outcome = end.kind
        invocation.payload = json.loads(end.body)
        for stream, text in enumerate(written):
            part = text[start.written[stream] : end.written[stream]]
            invocation.lines += part.decode().splitlines()
        invocation.lines += [
            message
            for first, _, message in records
            if start.written[2] <= first < end.written[2]
        ]
        invocation.documents = [
            d for d in documents if d["trace_id"] == invocation.root
        ]
        edges += [start.written, end.written]
    outside = []
    for stream, text in enumerate(written):
        offsets = [0, *(edge[stream] for edge in edges), len(text)]
        gaps = zip(offsets[::2], offsets[1::2], strict=True)
        outside += b"".join(text[a:b] for a, b in gaps).decode().splitlines()
    inside = [(edges[i][2], edges[i + 1][2]) for i in range(0, len(edges), 2)]
    outside += [
        message
        for first, _, message in records
        if not any(a <= first < b for a, b in inside)
    ]

    assert sorted(task.rglob("*")) == files_before
    return LambdaRun(
        variables=environment_variables(properties),
        handler=properties["Handler"],
        calls=[r.kind for r in api.requests],
        invocations=invocations,
        outside=outside,
        stdout=written[0].decode(),
        stderr=written[1].decode(),
        telemetry=[message for _, _, message in records],
        datagrams=datagrams,
        bytecode_written=sorted(
            map(str, bytecode_in([task, *layers]) - bytecode_before)
        ),
    )


# Reading what the function wrote


# --------------------------------------------------------------------------
# Reading the output


def json_object(line: str) -> dict | None:
    try:
        value = json.loads(line)
    except json.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


def emf(lines: list[str]) -> list[dict]:
    """Embedded metric format records: the JSON objects with an _aws key."""
    return [r for r in map(json_object, lines) if r is not None and "_aws" in r]


def logger_records(lines: list[str]) -> list[dict]:
    """Every other JSON object: what Powertools Logger writes."""
    return [r for r in map(json_object, lines) if r is not None and "_aws" not in r]
