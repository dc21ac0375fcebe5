"""The generated dev.py where users meet it beyond the Quick start's happy path
(tests/test_quick_start.py runs that, as written): a command run before setup or
with another Python says what to do in two lines; ruff leaves alone what setup
makes, in a folder that is not a git repository; and `dev.py serve` with clients
that misbehave, every HTTP method, a busy port, `--port`, and code or template.yaml
saved while it runs. The serving tests use an app that echoes what it receives,
in an environment that borrows the tests' packages (support/dev_server.py
echoing_project()); the Quick start's tests serve the real app from environments
`dev.py setup` made.
"""

from __future__ import annotations

import json
import signal
import socket
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from matrix import CHOICES, DEFAULTS
from support.dev_server import (
    DevServer,
    declare_bye,
    echoing_project,
    free_port,
    read_answer,
    request,
    send_raw,
    told,
)
from support.environments import THIS_RUNTIME, require_this_runtime
from support.processes import clean_environment, run, tool, user_shell
from support.renders import working_copy

# The defaults with the Python running the tests as the runtime: commands that
# stop before they need an environment run with it.
HERE = {**DEFAULTS, "runtime": THIS_RUNTIME}
OTHER = next(r for r in CHOICES["runtime"] if r != THIS_RUNTIME)


def dev_py(project: Path, *arguments: str, python: str = sys.executable):
    return run([python, "dev.py", *arguments], cwd=project, env=user_shell(python))


# --- before setup, and with another Python: fast ------------------------------------


@pytest.fixture
def unset(bake, tmp_path) -> Path:
    require_this_runtime()
    return working_copy(bake, HERE, tmp_path)


@pytest.mark.parametrize("command", ["check", "serve"])
def test_a_command_before_setup_says_to_run_setup(unset, command):
    done = dev_py(unset, command)
    told(done, command, ".venv is not set up", f"`{THIS_RUNTIME} dev.py setup`")


def test_an_interrupted_setup_is_seen(unset):
    """An environment that setup began and did not finish (no mark of completion)."""
    made = run([sys.executable, "-m", "venv", "--without-pip", str(unset / ".venv")])
    assert made.returncode == 0, made.stderr
    told(dev_py(unset, "check"), "check", "did not finish", "dev.py setup")
    # Complete, but from pins that have changed since.
    (unset / ".venv" / "dev-py-setup.txt").write_text("an older set-up")
    told(dev_py(unset, "serve"), "serve", "changed since the last setup")


@pytest.mark.parametrize("command", ["setup", "check"])
def test_another_python_is_told_which_and_how_to_get_it(bake, tmp_path, command):
    project = working_copy(bake, {**DEFAULTS, "runtime": OTHER}, tmp_path)
    done = dev_py(project, command)
    told(done, command, f"run me with {OTHER}", f"`{OTHER} dev.py {command}`")
    assert "Install it" in done.stderr and '"Change an answer"' in done.stderr
    assert not (project / ".venv").exists()


def test_ruff_leaves_alone_what_setup_and_build_make_outside_git(unset):
    """ruff reads .gitignore only inside a git repository: the project's own
    configuration must exclude the environments and the build."""
    bad = "import os\nimport sys\nx = 1;\n"  # unused imports, a semicolon
    for made in (".venv-sam/bin/jp.py", ".venv/bin/x.py", ".aws-sam/build/y.py"):
        (unset / made).parent.mkdir(parents=True, exist_ok=True)
        (unset / made).write_text(bad, encoding="utf-8")
    assert not (unset / ".git").exists()
    checked = run([tool("ruff"), "check", "."], cwd=unset)
    assert checked.returncode == 0, checked.stdout
    # The project's own code is still linted.
    (unset / "hello_world" / "extra.py").write_text(bad, encoding="utf-8")
    checked = run([tool("ruff"), "check", "."], cwd=unset)
    assert "hello_world/extra.py" in checked.stdout


# --- serve, with an app that echoes what it receives ---------------------------------


@pytest.fixture
def echoing(bake, tmp_path) -> Path:
    return echoing_project(bake, tmp_path)


def dev_server(project: Path, port: int = 0) -> DevServer:
    line = f"{sys.executable} dev.py serve --port {port}"
    return DevServer(line, project, clean_environment())


def json_answer(answer: tuple[int, dict[str, str], bytes], method: str = "GET"):
    """The status and JSON body of an answer that must be JSON."""
    status, headers, body = answer
    assert headers["Content-Type"] == "application/json", answer
    assert headers["X-Content-Type-Options"] == "nosniff", answer
    return status, (None if method == "HEAD" else json.loads(body))


METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
METHODS += ["TRACE", "CONNECT", "PROPFIND", "BREW"]  # WebDAV, unknown


def test_serve_with_every_method_clients_that_misbehave_and_a_busy_port(echoing):
    port = free_port()
    with dev_server(echoing, port) as server:
        url = server.url
        assert url == f"http://127.0.0.1:{port}"  # --port
        # Two clients that declare a body and stall: the others are answered.
        declared = "POST /hello HTTP/1.1\r\nContent-Length: {}\r\n\r\n"
        stalled = [send_raw(url, declared.format(n).encode()) for n in (100, 5)]
        started = time.monotonic()
        greeted = json_answer(request(url, "/hello/Ada"))
        assert time.monotonic() - started < 5
        assert greeted[0] == 200 and greeted[1]["event"]["path"] == "/hello/Ada"
        # Every method on every path: JSON from the function for the routes
        # template.yaml declares, the API's gateway response for the others.
        answers = {
            (method, path): json_answer(request(url, path, method), method)
            for method in METHODS
            for path in ("/hello", "/hello/Ada", "/nowhere", "/", "/hello/a/b")
        }
        # A refused request: a JSON error of the server's own, with its status.
        line = b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n"
        long_line = read_answer(send_raw(url, line))
        header = b"GET / HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n"
        long_header = read_answer(send_raw(url, header))
        garbage = read_answer(send_raw(url, b"NOT HTTP AT ALL\r\n\r\n"))
        not_a_length = request(url, "/hello", "POST", {"Content-Length": "ten"})
        chunked = request(url, "/hello", "POST", {"Transfer-Encoding": "chunked"})
        # The first stalled client gives up half-way.
        stalled[0].sendall(b"x" * 10)
        stalled[0].shutdown(socket.SHUT_WR)
        short = read_answer(stalled[0])
        stalled[1].close()
        # A second serve on the same port.
        busy = run(
            [sys.executable, "dev.py", "serve", "--port", str(port)],
            cwd=echoing,
            env=clean_environment(),
            timeout=60,
        )

    for (method, path), answer in answers.items():
        if method == "GET" and path in ("/hello", "/hello/Ada"):
            assert answer[0] == 200, (method, path, answer)
        else:
            expected = None if method == "HEAD" else {"message": "Not found"}
            assert answer == (404, expected), (method, path, answer)
    assert json_answer(long_line)[0] == 414
    assert json_answer(long_header)[0] == 431
    assert json_answer(garbage)[0] == 400
    assert json_answer(not_a_length)[0] == 400
    assert json_answer(chunked)[0] == 411
    assert json_answer(short)[0] == 400
    # Stopped by Ctrl-C: both processes, quietly.
    assert server.returncode == 0, server.stderr
    assert "Traceback" not in server.stderr and "Fatal" not in server.stderr
    assert "<html" not in server.stdout.lower() + server.stderr.lower()
    told(busy, "serve", f"port {port} is in use", f"dev.py serve --port {port + 1}`")
    assert busy.returncode == 1


def until(url: str, path: str, status: int, seen: str, seconds: float = 30) -> None:
    """Ask until the answer has this status and `seen` in its JSON body."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            answer = json_answer(request(url, path))
        except OSError as error:
            answer = (None, error)
        if answer[0] == status and seen in json.dumps(answer[1]):
            return
        assert time.monotonic() < deadline, (path, answer)
        time.sleep(0.2)


def test_serve_picks_up_saved_changes(echoing):
    """Saved code and template.yaml are served without a restart by hand; a change
    that breaks the import is reported (API Gateway's 502 meanwhile), and the next
    good save recovers."""
    app = echoing / "hello_world" / "app.py"
    code = app.read_text(encoding="utf-8")
    with dev_server(echoing) as server:
        url = server.url
        until(url, "/hello", 200, "/hello")
        app.write_text(code.replace('"event": event', '"event": "saved"'), "utf-8")
        until(url, "/hello", 200, "saved")
        app.write_text(code + "\n)\n", encoding="utf-8")
        until(url, "/hello", 502, "Internal server error")
        app.write_text(code, encoding="utf-8")
        until(url, "/hello", 200, "/hello")
        # The app answers any path; API Gateway, and serve, only those template.yaml
        # declares: a new route answers once its event is saved there.
        assert json_answer(request(url, "/bye")) == (404, {"message": "Not found"})
        declare_bye(echoing)
        until(url, "/bye", 200, "/bye")
        # Stopped otherwise than by Ctrl-C (a `kill`): the function's process goes too.
        server.stop(alone=signal.SIGTERM)  # `kill PID`
        address = (urlsplit(url).hostname, urlsplit(url).port)
        deadline = time.monotonic() + 5
        while True:
            try:
                socket.create_connection(address, timeout=1).close()
            except ConnectionRefusedError:
                break
            assert time.monotonic() < deadline, "the function's process still serves"
            time.sleep(0.1)
    assert "SyntaxError" in server.stderr
    assert "the function did not load (above)" in server.stderr
    assert "dev.py serve: hello_world/app.py changed: restarting" in server.stdout
    assert "dev.py serve: template.yaml changed: restarting" in server.stdout
    assert 'dev.py", line' not in server.stderr  # the user's code only
