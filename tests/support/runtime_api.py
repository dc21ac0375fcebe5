"""Stand-ins for what Lambda gives a function's runtime: the Lambda Runtime API
(RuntimeApi: hands out each invocation once, in order, records every call) and the
X-Ray daemon (XRayDaemon: the UDP socket AWS_XRAY_DAEMON_ADDRESS names), with the
invocations they hand out and what each call carried."""

from __future__ import annotations

import json
import re
import secrets
import socket
import threading
import time
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

RUNTIME_API = "/2018-06-01/runtime"


DAEMON_HEADER = {"format": "json", "version": 1}


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

    @property
    def api(self) -> RuntimeApi:
        assert isinstance(self.server, RuntimeApi)
        return self.server

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
        api = self.api
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
        api = self.api
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
