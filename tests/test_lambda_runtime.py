"""The built function run the way Lambda runs it: the `sam build` output served by
awslambdaric, the runtime interface client of Lambda's managed Python runtimes,
against a Lambda Runtime API written here, with an X-Ray daemon stand-in (a UDP
socket) and the environment, sys.path and read-only task directory Lambda gives.

One runtime-client process per combination serves every invocation (as one
execution environment does); each test below reads one aspect of that run.

What counts as the function's output: everything the runtime-client process
writes to stdout and stderr, and every record it logs through the log channel
Lambda gives it (`_LAMBDA_TELEMETRY_LOG_FD`: the standard library's log records,
the app's `logging` logger when Logger is not selected, one framed record each),
from its start until it is stopped. That is what Lambda sends to the function's
log group (its own START/END/REPORT lines come from the platform, not from this
process). awslambdaric 4.2.2 writes nothing of its own on these paths: it logs
only for init failures, unhandled handler errors and preview runtimes.
"""

from __future__ import annotations

import ast
import functools
import json
import platform
import re
import secrets
import shutil
import socket
import subprocess
import sys
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import unquote

import pytest

from bench.layout import LAYER_REMOVES
from helpers import (
    CACHE,
    REGION,
    api_event,
    environment_variables,
    function_properties,
    layer_stand_in,
    load_cfn,
    once,
    pip_install,
    require_interpreter,
    sam_event,
)
from matrix import COOKIECUTTER_JSON, DEFAULTS, ROOT, combination_id, supported

pytestmark = pytest.mark.slow

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

RUNTIME_API = "/2018-06-01/runtime"
DAEMON_HEADER = {"format": "json", "version": 1}


def selections() -> list[dict]:
    """All three observability options with pip and with the layer, none, each
    alone, the makefile build and SnapStart; the defaults for everything else.
    The ones test_sam_cli.py builds too are built once per session."""
    host = {**DEFAULTS, "architecture": HOST_ARCHITECTURE or DEFAULTS["architecture"]}
    options = ("logging", "tracing", "metrics")
    everything = {option: True for option in options}
    # Nothing selected, monitoring included (as test_sam_cli builds it).
    nothing = {**{option: False for option in options}, "monitoring": False}
    chosen = [
        {**host, **everything, "powertools_source": "pip"},
        {**host, **everything, "powertools_source": "layer"},
        {**host, **nothing},
        *({**host, **nothing, option: True} for option in options),
        # The build that ships bytecode and leaves the SDK to the runtime.
        {**host, "build_method": "makefile", "powertools_source": "pip"},
        {**host, "snapstart": True},
    ]
    assert all(supported(answers) for answers in chosen)
    return list({combination_id(a): a for a in chosen}.values())


SELECTIONS = [pytest.param(a, id=combination_id(a)) for a in selections()]
WITH_LOGGING = [p for p in SELECTIONS if p.values[0]["logging"]]


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


# What Powertools' own layer build deletes from its pip install: the SDK Lambda's
# runtime provides and its dependencies at the top level (LAYER_REMOVES, declared
# with the bench's stand-in for the layer), and bytecode everywhere.
NO_BYTECODE = ("__pycache__", "*.py[co]")


@functools.cache
def public_layer(runtime: str) -> Path:
    """/opt/python as the public Powertools layer ships it: the layer stand-in of
    test_sam_cli.py (Powertools with [tracer]) without what the layer leaves out."""
    source = layer_stand_in(runtime)
    top = shutil.ignore_patterns(*LAYER_REMOVES, *NO_BYTECODE)
    below = shutil.ignore_patterns(*NO_BYTECODE)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return (top if Path(directory) == source else below)(directory, names)

    def populate(target: Path) -> None:
        shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)

    return once(source.with_name(source.name + "-public"), populate)


# --------------------------------------------------------------------------
# The invocations


@dataclass(frozen=True)
class Case:
    label: str
    event: dict
    status: int
    message: str
    metric: str  # the metric the path records (besides ColdStart)
    route: str | None = None  # the route that answers, as the app names it
    subsegment: str | None = None  # the route's X-Ray subsegment

    @property
    def api_request_id(self) -> str | None:
        return self.event.get("requestContext", {}).get("requestId")


def from_a_client(event: dict) -> dict:
    """The event as API Gateway sends it for one request of a signed-in client:
    its own request id, an Authorization header and a session cookie."""
    event["requestContext"]["requestId"] = str(uuid.uuid4())
    for name, value in (
        ("Authorization", f"Bearer {BEARER_TOKEN}"),
        ("Cookie", f"session={SESSION_COOKIE}; theme=dark"),
    ):
        event["headers"][name] = value
        event["multiValueHeaders"][name] = [value]
    return event


def made_to_fail(event: dict) -> dict:
    """The request, carrying the header that makes its route raise (BOOTSTRAP)."""
    event["headers"][FAIL_HEADER] = "1"
    event["multiValueHeaders"][FAIL_HEADER] = ["1"]
    return event


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    """Both routes (the name percent-encoded, as API Gateway REST delivers it),
    an unknown route, an event that is not an API Gateway request, and each route
    made to fail."""
    encoded = "Jos%C3%A9%20Smith"
    return [
        Case(
            "hello",
            from_a_client(api_event("/hello", resource="/hello")),
            200,
            "hello unknown!",
            "Greetings",
            route="/hello",
            subsegment="## app.hello",
        ),
        Case(
            "hello_name",
            from_a_client(
                api_event(
                    f"/hello/{encoded}",
                    resource="/hello/{name}",
                    path_parameters={"name": encoded},
                )
            ),
            200,
            "hello José Smith!",
            "Greetings",
            route="/hello/<name>",
            subsegment="## app.hello_name",
        ),
        Case(
            "unknown",
            from_a_client(api_event("/goodbye")),
            404,
            "Not found",
            "NotFound",
        ),
        Case(
            "not_api",
            sam_event("cloudwatch", "scheduled-event"),
            400,
            "Bad request",
            "MalformedEvents",
        ),
        Case(
            "hello_fails",
            made_to_fail(from_a_client(api_event("/hello", resource="/hello"))),
            500,
            "Internal server error",
            "UnhandledErrors",
            route="/hello",
            subsegment="## app.hello",
        ),
        Case(
            "hello_name_fails",
            made_to_fail(
                from_a_client(
                    api_event(
                        "/hello/Ann",
                        resource="/hello/{name}",
                        path_parameters={"name": "Ann"},
                    )
                )
            ),
            500,
            "Internal server error",
            "UnhandledErrors",
            route="/hello/<name>",
            subsegment="## app.hello_name",
        ),
    ]


# --------------------------------------------------------------------------
# The Lambda Runtime API and the X-Ray daemon


@dataclass
class Request:
    """One call the runtime client made, and how many bytes it had written to
    stdout and stderr by then."""

    kind: str  # next, restore, response, error, init_error, restore_error
    request_id: str | None
    body: bytes
    written: tuple[int, ...]


@dataclass
class Invocation:
    case: Case
    request_id: str
    root: str  # its trace, handed out in Lambda-Runtime-Trace-Id
    parent: str
    outcome: str = ""  # the Runtime API call that ended it: response or error
    payload: dict = field(default_factory=dict)
    # What it wrote: the lines of stdout and stderr, then the records it logged
    # through the runtime's log channel (one each, as CloudWatch shows them).
    lines: list[str] = field(default_factory=list)
    documents: list[dict] = field(default_factory=list)  # X-Ray, of its trace

    @property
    def trace_header(self) -> str:
        # Sampled: any X-Ray client in the function would send something, so
        # silence without tracing shows that there is none.
        return f"Root={self.root};Parent={self.parent};Sampled=1"


def new_invocation(case: Case) -> Invocation:
    root = f"1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    return Invocation(case, str(uuid.uuid4()), root, parent=secrets.token_hex(8))


class RuntimeApi(ThreadingHTTPServer):
    """Hands out each invocation once, in order, and records every call. When
    none is left it holds the runtime's next request, as Lambda does until it
    freezes or stops the environment."""

    daemon_threads = True

    def __init__(self, invocations, output: list[Path], arn: str, timeout: int):
        super().__init__(("127.0.0.1", 0), RuntimeApiHandler)
        self.waiting = list(invocations)
        self.output = output
        self.function_arn = arn
        self.timeout_ms = timeout * 1000
        self.requests: list[Request] = []
        self.lock = threading.Lock()
        self.drained = threading.Event()
        self.stopping = threading.Event()

    def record(self, kind: str, request_id=None, body=b"") -> None:
        written = tuple(path.stat().st_size for path in self.output)
        with self.lock:
            self.requests.append(Request(kind, request_id, body, written))

    def next_invocation(self) -> Invocation | None:
        with self.lock:
            return self.waiting.pop(0) if self.waiting else None


class RuntimeApiHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: RuntimeApi

    def log_message(self, format, *args):  # quiet: the test reports what matters
        pass

    def reply(self, status: int, body: bytes = b"", headers: dict | None = None):
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        api = self.server
        if self.path == f"{RUNTIME_API}/restore/next":
            api.record("restore")
            self.reply(200)
        elif self.path == f"{RUNTIME_API}/invocation/next":
            api.record("next")
            invocation = api.next_invocation()
            if invocation is None:
                api.drained.set()
                api.stopping.wait()
                self.close_connection = True
                return
            deadline = int(time.time() * 1000) + api.timeout_ms
            self.reply(
                200,
                json.dumps(invocation.case.event).encode(),
                {
                    "Content-Type": "application/json",
                    "Lambda-Runtime-Aws-Request-Id": invocation.request_id,
                    "Lambda-Runtime-Deadline-Ms": str(deadline),
                    "Lambda-Runtime-Invoked-Function-Arn": api.function_arn,
                    "Lambda-Runtime-Trace-Id": invocation.trace_header,
                },
            )
        else:
            self.reply(404)

    def do_POST(self):
        api = self.server
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        invocation = re.fullmatch(
            rf"{RUNTIME_API}/invocation/([^/]+)/(response|error)", self.path
        )
        if invocation:
            api.record(invocation[2], invocation[1], body)
        elif self.path == f"{RUNTIME_API}/init/error":
            api.record("init_error", body=body)
        elif self.path == f"{RUNTIME_API}/restore/error":
            api.record("restore_error", body=body)
        else:
            self.reply(404)
            return
        self.reply(202)


class XRayDaemon:
    """The UDP socket AWS_XRAY_DAEMON_ADDRESS names: keeps every datagram."""

    def __init__(self):
        self.socket = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 20)
        self.socket.bind(("127.0.0.1", 0))
        self.host, self.port = self.socket.getsockname()

    def received(self) -> list[bytes]:
        """Every datagram sent so far (call it once the sender has exited)."""
        self.socket.setblocking(False)
        datagrams = []
        while True:
            try:
                datagrams.append(self.socket.recv(1 << 16))
            except BlockingIOError:
                return datagrams

    def close(self):
        self.socket.close()


def x_ray_documents(datagram: bytes) -> list[dict]:
    """The daemon protocol: a header line, then one JSON segment document.
    Subsegments that were not streamed on their own are nested in their parent."""
    header, _, body = datagram.partition(b"\n")
    assert json.loads(header) == DAEMON_HEADER, datagram
    documents = [json.loads(body)]
    for document in documents:
        for child in document.get("subsegments", []):
            documents.append({"trace_id": document["trace_id"], **child})
    return documents


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


@pytest.fixture(scope="module")
def lambda_runs(sam_builds, cases, tmp_path_factory):
    """serve(answers) once per combination for the module; a failure is kept and
    raised again for each test of that combination."""
    if sys.platform != "linux" or HOST_ARCHITECTURE is None:
        pytest.skip(
            f"Lambda's runtime client and built wheels are for Linux on x86_64 or "
            f"arm64, not {sys.platform} on {platform.machine()}"
        )
    runs: dict[str, LambdaRun | Exception] = {}

    def run_for(answers: dict) -> LambdaRun:
        if answers["build_method"] == "makefile" and shutil.which("make") is None:
            pytest.skip("sam build with build_method=makefile needs make (not on PATH)")
        key = combination_id(answers)
        if key not in runs:
            build = sam_builds(answers)
            try:
                runs[key] = serve(answers, build, cases, tmp_path_factory.mktemp(key))
            except Exception as error:  # kept for the other tests of this run
                runs[key] = error
        if isinstance(runs[key], Exception):
            raise runs[key]
        return runs[key]

    return run_for


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


# --------------------------------------------------------------------------
# The tests


@pytest.mark.parametrize("answers", SELECTIONS)
def test_runtime_client_initialises_once_then_serves_every_event(
    lambda_runs, cases, answers
):
    run = lambda_runs(answers)
    # SnapStart: init, then the snapshot (restore/next returns after a restore),
    # then invocations. Without it there is no restore phase.
    restore = ["restore"] if answers["snapstart"] else []
    assert run.calls == [*restore, *["next", "response"] * len(cases), "next"]
    assert run.bytecode_written == []


@pytest.mark.parametrize("answers", SELECTIONS)
def test_every_response(lambda_runs, answers):
    for invocation in lambda_runs(answers).invocations:
        case, payload = invocation.case, invocation.payload
        assert invocation.outcome == "response", (case.label, payload)
        assert payload["statusCode"] == case.status, case.label
        assert json.loads(payload["body"]) == {"message": case.message}, case.label
        assert payload["isBase64Encoded"] is False
        # REST API (payload v1): headers in multiValueHeaders.
        assert payload["multiValueHeaders"] == {
            "Content-Type": ["application/json"],
            "X-Content-Type-Options": ["nosniff"],
        }, case.label
        assert not payload.get("headers"), case.label


@pytest.mark.parametrize("answers", SELECTIONS)
def test_logger_records_carry_the_invocation(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["logging"]:
        assert logger_records(run.lines()) == []
        return

    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    assert logger_records(run.outside) == []
    for number, invocation in enumerate(run.invocations):
        case = invocation.case
        records = logger_records(invocation.lines)
        # Both routes log (the first invocation too: its cold_start is seen).
        assert records or not case.route, f"{case.label}: no Logger record"
        for record in records:
            assert record["service"] == service
            assert record["function_name"] == FUNCTION_NAME
            assert record["function_request_id"] == invocation.request_id
            assert record["cold_start"] is (number == 0), (case.label, record)
            assert record.get("correlation_id") == case.api_request_id, record
            # Lambda's trace of the invocation, traced or not (Lambda hands one
            # out either way).
            assert record["xray_trace_id"] == invocation.root, record


@pytest.mark.parametrize("answers", WITH_LOGGING)
def test_every_line_the_function_writes_is_json(lambda_runs, answers):
    run = lambda_runs(answers)
    assert [line for line in run.lines() if json_object(line) is None] == []


@pytest.mark.parametrize("answers", SELECTIONS)
def test_emf_metrics(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["metrics"]:
        assert emf(run.lines()) == []
        assert "CloudWatchMetrics" not in "\n".join(run.lines())
        return

    namespace = run.variables["POWERTOOLS_METRICS_NAMESPACE"]
    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    assert emf(run.outside) == []
    for record in emf(run.lines()):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            assert directive["Namespace"] == namespace, record
            assert {m["Name"] for m in directive["Metrics"]} <= set(record), record
            for dimensions in directive["Dimensions"]:
                assert set(dimensions) <= set(record), record
    cold_starts = [r for r in emf(run.lines()) if "ColdStart" in r]
    assert len(cold_starts) == 1, cold_starts
    assert cold_starts[0] in emf(run.invocations[0].lines)

    for invocation in run.invocations:
        case = invocation.case
        recorded = {
            metric["Name"]
            for record in emf(invocation.lines)
            for directive in record["_aws"]["CloudWatchMetrics"]
            for metric in directive["Metrics"]
        }
        # A route records Greetings before it answers (or fails).
        expected = {case.metric, "Greetings"} if case.route else {case.metric}
        assert recorded - {"ColdStart"} == expected, (case.label, invocation.lines)
        greetings = [r for r in emf(invocation.lines) if "Greetings" in r]
        if case.route:
            assert [(g["route"], g["service"]) for g in greetings] == [
                (case.route, service)
            ], case.label
            assert greetings[0]["Greetings"] == [1.0]
        else:
            assert greetings == [], case.label


@pytest.mark.parametrize("answers", SELECTIONS)
def test_x_ray_subsegments(lambda_runs, answers):
    run = lambda_runs(answers)
    if not answers["tracing"]:
        assert run.datagrams == []
        return

    service = run.variables["POWERTOOLS_SERVICE_NAME"]
    handler = "## " + run.handler.rsplit(".", 1)[1]
    documents = [x for d in run.datagrams for x in x_ray_documents(d)]
    assert len(documents) == sum(len(i.documents) for i in run.invocations)
    for number, invocation in enumerate(run.invocations):
        case = invocation.case
        assert all(d["type"] == "subsegment" for d in invocation.documents)
        (top,) = [d for d in invocation.documents if d["name"] == handler]
        # Under the segment Lambda made for this invocation (Parent).
        assert top["parent_id"] == invocation.parent
        assert top["annotations"]["Service"] == service
        assert top["annotations"]["ColdStart"] is (number == 0)
        # The README promises a subsegment per route, annotated with the route
        # only: the decoded name is request input, never indexed.
        routes = [d for d in invocation.documents if d is not top]
        if case.route:
            (route,) = routes
            assert route["name"] == case.subsegment, case.label
            assert route["parent_id"] == top["id"], case.label
            assert route["annotations"] == {"Route": case.route}, case.label
        else:
            assert routes == [], case.label


# What each record of an invocation may carry. A Logger record: what the generated
# unit tests declare (RECORD_KEYS in tests/unit/test_logging.py, read here: one
# declaration for both tiers). An EMF line: its dimensions and metrics. A trace's
# subsegment: its annotations.
LOGGER_TESTS = (
    ROOT / "{{cookiecutter.project_slug}}" / "tests" / "unit" / "test_logging.py"
)
(LOGGER_KEYS,) = [
    ast.literal_eval(node.value)
    for node in ast.parse(LOGGER_TESTS.read_text(encoding="utf-8")).body
    if isinstance(node, ast.Assign) and ast.unparse(node.targets[0]) == "RECORD_KEYS"
]
EMF_KEYS = {
    "_aws",
    "service",
    "route",
    "function_name",
    "ColdStart",
    "Greetings",
    "NotFound",
    "MalformedEvents",
    "UnhandledErrors",
}
ANNOTATIONS = {"ColdStart", "Service", "Route"}


def who_called(invocation: Invocation) -> list[str]:
    """What identifies an invocation's caller and request: the name in its path
    (as sent and decoded), API Gateway's request id, Lambda's, its trace."""
    name = (invocation.case.event.get("pathParameters") or {}).get("name")
    found = [invocation.request_id, invocation.root, invocation.case.api_request_id]
    if name:
        found += [name, unquote(name)]
    return [value for value in found if value]


@pytest.mark.parametrize("answers", SELECTIONS)
def test_no_invocation_carries_an_earlier_callers_data(lambda_runs, answers):
    """One execution environment serves invocation after invocation, module state
    kept: nothing one request adds to the logger, the metrics or the tracer may
    reach a later one's log records, EMF lines or trace."""
    invocations = lambda_runs(answers).invocations
    # A named caller is followed by others (not vacuous).
    assert any(i.case.event.get("pathParameters") for i in invocations[:-1])
    earlier: list[str] = []
    for invocation in invocations:
        label = invocation.case.label
        records = logger_records(invocation.lines)
        metrics = emf(invocation.lines)
        for record in records:
            assert set(record) <= LOGGER_KEYS, (label, set(record) - LOGGER_KEYS)
        for record in metrics:
            assert set(record) <= EMF_KEYS, (label, set(record) - EMF_KEYS)
        for document in invocation.documents:
            annotations = set(document.get("annotations", {}))
            assert annotations <= ANNOTATIONS, (label, annotations - ANNOTATIONS)
        written = "\n".join(
            [
                *invocation.lines,
                json.dumps([records, metrics], ensure_ascii=False),
                json.dumps(invocation.documents, ensure_ascii=False),
            ]
        )
        assert [value for value in earlier if value in written] == [], label
        earlier += who_called(invocation)


@pytest.mark.parametrize("answers", SELECTIONS)
def test_no_secret_in_any_output(lambda_runs, cases, answers):
    run = lambda_runs(answers)
    sent = json.dumps([case.event for case in cases])
    assert BEARER_TOKEN in sent and SESSION_COOKIE in sent  # not vacuous
    outputs = {
        "stdout": run.stdout,
        "stderr": run.stderr,
        "log channel": "\n".join(run.telemetry),
        "X-Ray": b"\n".join(run.datagrams).decode(),
        "responses": json.dumps([i.payload for i in run.invocations]),
    }
    for name, text in outputs.items():
        for secret in SECRETS:
            assert secret not in text, f"a secret in {name}"


# --------------------------------------------------------------------------
# What the monitoring option's alarms and dashboard read (test_monitoring.py
# checks the rest of it): metrics and log lines the function really wrote.

INSIGHTS = re.compile(
    r"SELECT SUM\((?P<metric>\w+)\) FROM (?:\"(?P<namespace>[^\"]+)\""
    r"|SCHEMA\(\"(?P<schema_namespace>[^\"]+)\"(?P<schema>(?:, \w+)*)\))"
    r"(?P<where>(?: (?:WHERE|AND) \w+ = '[^']*')*)(?: GROUP BY (?P<group>\w+))?"
)


def selects(query: str, namespace: str, metric: str, dimensions: dict) -> bool:
    """Whether a Metrics Insights query (of the forms the template uses) reads this
    metric: FROM a namespace reads every dimension set, FROM SCHEMA(...) only the
    set it lists; WHERE keeps the sets with these values; GROUP BY needs the key."""
    parsed = INSIGHTS.fullmatch(query.strip())
    assert parsed, f"not a query this test reads: {query}"
    if parsed["metric"] != metric:
        return False
    if (parsed["namespace"] or parsed["schema_namespace"]) != namespace:
        return False
    if parsed["schema_namespace"]:
        listed = {d.strip() for d in parsed["schema"].split(",") if d.strip()}
        if listed != set(dimensions):
            return False
    for key, value in re.findall(r"(\w+) = '([^']*)'", parsed["where"]):
        if dimensions.get(key) != value:
            return False
    return parsed["group"] is None or parsed["group"] in dimensions


def emitted_metrics(lines: list[str]) -> list[tuple[str, str, dict]]:
    """(namespace, metric, {dimension: value}) for each metric of each EMF line,
    once per dimension set it is published with."""
    found = []
    for record in emf(lines):
        for directive in record["_aws"]["CloudWatchMetrics"]:
            for metric in directive["Metrics"]:
                for dimensions in directive["Dimensions"]:
                    values = {d: record[d] for d in dimensions}
                    found.append((directive["Namespace"], metric["Name"], values))
    return found


@pytest.mark.parametrize("answers", SELECTIONS)
def test_monitoring_reads_what_the_function_emits(
    lambda_runs, sam_builds, cases, answers
):
    run = lambda_runs(answers)
    template_path = sam_builds(answers).parents[2] / "template.yaml"
    resources = load_cfn(template_path)["Resources"]
    alarms = [r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Alarm"]
    queries = [
        metric["Expression"]
        for alarm in alarms
        for metric in alarm["Properties"].get("Metrics", [])
    ]
    emitted = emitted_metrics(run.lines())
    unhandled = [e for e in emitted if e[1] == "UnhandledErrors"]
    # The failing routes recorded it (metrics on), or nothing did (metrics off).
    failing = [c for c in cases if c.metric == "UnhandledErrors"]
    assert len(unhandled) == (len(failing) if answers["metrics"] else 0)
    if not (answers["monitoring"] and answers["metrics"]):
        assert queries == []
        return

    # One alarm on the function's own metric, and it reads every dimension set the
    # function published UnhandledErrors with (each route's) -- and nothing else.
    (query,) = queries
    for namespace, metric, dimensions in unhandled:
        assert selects(query, namespace, metric, dimensions), (query, dimensions)
        other = {**dimensions, "service": dimensions["service"] + "-other"}
        assert not selects(query, namespace, metric, other)
    assert {tuple(sorted(d)) for _, _, d in unhandled} == {("route", "service")}

    # Every query of the dashboard reads a metric the function emitted.
    (dashboard,) = [
        r for r in resources.values() if r["Type"] == "AWS::CloudWatch::Dashboard"
    ]
    body = dashboard["Properties"]["DashboardBody"]["Fn::Sub"]
    expressions = re.findall(r'"expression": "((?:[^"\\]|\\.)*)"', body)
    assert len(expressions) == 5
    for expression in expressions:
        expression = json.loads(f'"{expression}"')
        assert any(selects(expression, *e) for e in emitted), expression

    # The saved query "errors" finds each failed request's ERROR line, with its
    # correlation id (the API Gateway request id the client can quote).
    if answers["logging"]:
        (errors,) = [
            r["Properties"]["QueryString"]
            for r in resources.values()
            if r["Type"] == "AWS::Logs::QueryDefinition"
            and r["Properties"]["Name"]["Fn::Sub"].endswith("/errors")
        ]
        assert 'filter level = "ERROR"' in errors and "correlation_id" in errors
        for invocation in run.invocations:
            if invocation.case in failing:
                records = logger_records(invocation.lines)
                assert [
                    r["correlation_id"] for r in records if r["level"] == "ERROR"
                ] == [invocation.case.api_request_id]
