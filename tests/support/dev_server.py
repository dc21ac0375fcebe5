"""The generated `dev.py serve`, run and talked to: a project whose app echoes what
it receives, the server process stopped as a terminal stops it, HTTP clients (well
behaved and raw), what a refused command prints, and a route added as README says."""

from __future__ import annotations

import http.client
import os
import re
import signal
import socket
import subprocess
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from matrix import DEFAULTS
from support.environments import runner_environment
from support.renders import working_copy

# A route /bye declared in template.yaml as the generated README's steps add one.
BYE_EVENT = """\
        Bye:
          Type: Api
          Properties:
            RestApiId: !Ref HelloApi
            Path: /bye
            Method: get
"""


def declare_bye(project: Path) -> None:
    """The function's Events in template.yaml get BYE_EVENT (before HelloName)."""
    template = project / "template.yaml"
    text = template.read_text(encoding="utf-8")
    anchor = "        HelloName:\n"
    assert text.count(anchor) == 1
    template.write_text(text.replace(anchor, BYE_EVENT + anchor), encoding="utf-8")


# What the handler receives from dev.py serve: a stand-in app.py returns its event
# and context as the body.
ECHO_APP = """
import json


def lambda_handler(event, context):
    seen = {
        "event": event,
        "function_name": context.function_name,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
    }
    return {
        "statusCode": 200,
        "multiValueHeaders": {
            "Content-Type": ["application/json"],
            "X-Content-Type-Options": ["nosniff"],
        },
        "body": json.dumps(seen),
    }
"""


def echoing_project(bake, destination: Path) -> Path:
    """A copy of the default project whose app.py echoes what it receives
    (ECHO_APP), set up for `dev.py serve` with runner_environment."""
    project = working_copy(bake, DEFAULTS, destination)
    (project / "hello_world" / "app.py").write_text(ECHO_APP, encoding="utf-8")
    runner_environment(project)
    return project


def free_port() -> int:
    """A port nothing listens on now (port 3000 may be taken on this machine)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def request(
    url: str, path: str, method: str = "GET", headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    """One HTTP request (any method) and its answer: status, headers, body."""
    parts = urlsplit(url)
    assert parts.hostname, url
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=15)
    try:
        connection.request(method, path, headers=headers or {})
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def send_raw(url: str, data: bytes) -> socket.socket:
    """A client that sends these bytes, and no more, on a connection it keeps open."""
    parts = urlsplit(url)
    client = socket.create_connection((parts.hostname, parts.port), timeout=15)
    client.sendall(data)
    return client


def read_answer(client: socket.socket) -> tuple[int, dict[str, str], bytes]:
    """The answer a raw client gets, to the end (the connection is then closed)."""
    with client:
        response = http.client.HTTPResponse(client)
        response.begin()
        return response.status, dict(response.getheaders()), response.read()


def told(done, command: str, *words: str) -> None:
    """The command failed with two lines, `dev.py ...: what` and what to do."""
    assert done.returncode != 0
    lines = done.stderr.rstrip("\n").splitlines()
    assert len(lines) == 2 and lines[0].startswith(f"dev.py {command}: "), lines
    assert lines[1].startswith("  ") and "Traceback" not in done.stderr, lines
    for word in words:
        assert word in done.stderr, word


class DevServer:
    """`dev.py serve` (a shell command line) running in a project, its output in
    files beside the project (a pipe nobody reads could fill and stall it); `url`
    is the address it prints. Stopped as Ctrl-C in its terminal stops it (SIGINT to
    each process of its group), or with a signal to it alone; then `returncode`,
    `stdout` and `stderr`."""

    def __init__(self, line: str, project: Path, env: dict[str, str]):
        self.project = project
        self.files = [project.parent / f"serve.{n}" for n in ("stdout", "stderr")]
        with self.files[0].open("w") as out, self.files[1].open("w") as err:
            self.process = subprocess.Popen(
                ["sh", "-c", f"exec {line}"], cwd=project, env=env, stdout=out,
                stderr=err, start_new_session=True,  # a terminal's process group
            )  # fmt: skip
        self.url = self.wait_for_address()

    def output(self) -> tuple[str, str]:
        stdout, stderr = (f.read_text(encoding="utf-8") for f in self.files)
        return stdout, stderr

    def wait_for_address(self, seconds: float = 60) -> str:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            found = re.search(r" at (http://[\d.]+:\d+) ", self.output()[0])
            if found:
                return found.group(1)
            if self.process.poll() is not None:
                break
            time.sleep(0.1)
        self.stop()
        pytest.fail(f"dev.py serve did not start: {self.output()}")

    def stop(self, alone: int | None = None) -> None:
        """Ctrl-C, or the signal `alone` sent to the server process only."""
        if self.process.poll() is None:
            if alone is None:
                os.killpg(self.process.pid, signal.SIGINT)
            else:
                self.process.send_signal(alone)
        try:
            self.returncode = self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            # Not left running on its port for the next test to trip over.
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail(f"dev.py serve did not stop within 30 s: {self.output()}")
        self.stdout, self.stderr = self.output()

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *_) -> None:
        self.stop()
