"""The generated README's Quick start, as a new user runs it.

The README opens (title, description) with `## Quick start`: one fenced block of
exactly three commands, set up, serve, check (dev.py). The suite runs the three lines
as written, through the shell: once as a new user on a stock Python (its bundled pip
older than 23.3, a PATH with nothing else, no git repository until the end, a set-up
interrupted, a client that stalls), and for a spread of combinations (both Powertools
sources, both build methods, with and without ci=github) in a fresh git repository
with environments shared between runs: set up, serve and call the API with an HTTP
client, check. The README and app.py stay short, and every docs/ link resolves in
every combination.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import inspect
import json
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from filelock import FileLock
from samcli.commands.deploy.guided_context import GuidedContext

from matrix import DEFAULTS, combination_id, quick_matrix
from support.dev_server import (
    DevServer,
    echoing_project,
    read_answer,
    request,
    send_raw,
    told,
)
from support.documents import load_cfn
from support.environments import (
    FIXED_PIP,
    require_interpreter,
    shared_environments,
    stock_python,
)
from support.markdown import markdown_tokens, opening
from support.processes import clean_environment, run, user_shell
from support.renders import (
    SCOPES,
    baked_project,
    check_each,
    scope_matrix,
    working_copy,
)
from support.template import post_gen

README_LINES = 200
APP_LINES = 80


def quick_start_commands(readme: str) -> tuple[list[str], list[str]]:
    """The Quick start's bash block (its lines) and the Windows commands (the
    inline code right below it that runs dev.py through the py launcher)."""
    tokens = markdown_tokens(readme)
    start = next(
        i
        for i, t in enumerate(tokens)
        if t.type == "inline" and t.content == "Quick start"
    )
    end = next(
        (i for i, t in enumerate(tokens[start + 2 :], start + 2) if t.tag == "h2"),
        len(tokens),
    )
    section = tokens[start:end]
    fence = next(t for t in section if t.type == "fence")
    assert fence.info == "bash"
    windows = [
        child.content
        for t in section
        if t.type == "inline"
        for child in t.children or []
        if child.type == "code_inline" and child.content.startswith("py -")
    ]
    return fence.content.splitlines(), windows


# --- the README's shape, every quick combination ----------------------------------


@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=combination_id(a)) for a in quick_matrix()]
)
def test_readme_opens_with_three_commands(bake, answers):
    project = baked_project(bake, answers)
    readme = (project / "README.md").read_text(encoding="utf-8")
    tokens = markdown_tokens(readme)
    # Title, one paragraph (the description), then the Quick start.
    opening(tokens)
    assert tokens[6].type == "heading_open"
    assert (tokens[6].tag, tokens[7].content) == ("h2", "Quick start")
    commands, windows = quick_start_commands(readme)
    python = answers["runtime"]  # python3.13
    assert commands == [f"{python} dev.py {c}" for c in ("setup", "serve", "check")]
    launcher = f"py -{python.removeprefix('python')}"
    assert windows == [c.replace(python, launcher) for c in commands]
    # The prerequisites line names the runtime's Python and git.
    prerequisites = tokens[10].content
    assert f"Python {python.removeprefix('python')}" in prerequisites
    assert "git" in prerequisites
    # The post-generation hook prints the same commands.
    steps = post_gen.next_steps({**answers, "project_slug": "x"}, windows=False)
    assert [line.strip() for line in steps.splitlines()[2:5]] == commands
    if answers["ci"] == "github":
        workflow = (project / ".github/workflows/ci.yml").read_text(encoding="utf-8")
        check = workflow[workflow.index("  check:") : workflow.index("  build:")]
        ran = re.findall(r"^\s+run: (.+)$", check, re.MULTILINE)
        assert ran == [commands[0], commands[2]], "CI's check job runs the README's"


@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=combination_id(a)) for a in quick_matrix()]
)
def test_readme_says_what_to_answer_the_first_deploy(bake, answers):
    """`sam deploy --guided` asks every parameter of template.yaml, then whether
    each function behind an API without authentication is okay (default No: the
    deploy stops). The README's Deploy section names the parameters that need a
    decision (an empty default), only parameters the template has, SAM CLI's own
    question about authentication with the answer that goes on, how to deploy again
    without the questions, and the integration tests with the region boto3 reads."""
    project = baked_project(bake, answers)
    readme = (project / "README.md").read_text(encoding="utf-8")
    (deploy,) = re.findall(r"^## Deploy\n(.*?)^## ", readme, re.S | re.M)
    prose = " ".join(deploy.split())
    parameters = load_cfn(project / "template.yaml")["Parameters"]
    named = set(re.findall(r"`Parameter (\w+)`", prose))
    assert named <= set(parameters)
    assert {k for k, v in parameters.items() if v.get("Default") == ""} <= named
    asked = inspect.getsource(GuidedContext.prompt_authorization)
    assert "{resource} has no authentication. Is this okay?" in asked
    assert "default=False" in asked
    question = "HelloWorldFunction has no authentication. Is this okay? [y/N]"
    assert f"`{question}`: `y`" in prose
    commands = re.findall(r"^(sam deploy\S*(?: --\S+)*)", deploy, re.M)
    assert commands == ["sam deploy --guided", "sam deploy"]
    assert re.search(r"^AWS_DEFAULT_REGION=\S+ AWS_SAM_STACK_NAME=\S+ ", deploy, re.M)


def test_readme_and_app_of_the_defaults_are_short(bake):
    project = baked_project(bake, DEFAULTS)
    readme = (project / "README.md").read_text(encoding="utf-8")
    app = (project / "hello_world" / "app.py").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_LINES
    assert len(app.splitlines()) <= APP_LINES


@functools.cache
def markdown_links(text: str) -> tuple[str, ...]:
    """The link targets of a Markdown text (each distinct page is parsed once per
    process, for this and every other check that reads it: markdown_tokens)."""
    found = []
    for token in markdown_tokens(text):
        for child in token.children or []:
            if child.type == "link_open":
                found.append(child.attrs["href"])
    return tuple(found)


@pytest.mark.parametrize("scope", SCOPES)
def test_every_docs_link_resolves(bake, scope):
    """README.md and docs/*.md link only to pages this combination has (each
    docs/ page of a declined option is pruned, and so must be its link)."""

    def check(project: Path, answers: dict) -> None:
        pages = [project / "README.md", *sorted((project / "docs").glob("*.md"))]
        linked = set()
        for page in pages:
            for href in markdown_links(page.read_text(encoding="utf-8")):
                if re.match(r"[a-z]+:", href) or href.startswith("#"):
                    continue
                target = (page.parent / href.split("#")[0]).resolve()
                assert target.is_file(), f"{page.name} links to {href}"
                linked.add(target)
        # Every docs/ page is reachable from the README, directly or not.
        assert set(pages[1:]) <= linked, sorted(p.name for p in set(pages[1:]) - linked)

    check_each(bake.each(scope_matrix(scope)), check)


# --- the three commands, run as written -----------------------------------------

# Beside the stock run (test_quick_start_on_a_stock_python, the defaults), a spread
# of combinations whose environments are made once with uv and shared.
QUICK_START_RUNS = [
    {
        **DEFAULTS,
        "powertools_source": "pip",
        "build_method": "makefile",
        "ci": "none",
        "logging": False,
    },
    {
        **DEFAULTS,
        "powertools_source": "pip",
        "ci": "none",
        "tracing": False,
        "metrics": False,
    },
    {**DEFAULTS, "build_method": "makefile", "metrics": False},
]


def shell(line: str, project: Path, env: dict[str, str]):
    return run(["sh", "-c", line], cwd=project, env=env)


def call(url: str, path: str, method: str = "GET") -> tuple[int, object]:
    """A request to the API: its status and JSON body, as every answer is."""
    status, headers, body = request(url, path, method)
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    return status, json.loads(body)


@contextlib.contextmanager
def serving(serve: str, project: Path, env: dict[str, str]):
    """The README's serve command running (port 3000), for one test at a time,
    whatever runs these tests."""
    with FileLock(Path(tempfile.gettempdir()) / "quick-start-port-3000.lock"):
        with DevServer(serve, project, env) as server:
            assert server.url == "http://127.0.0.1:3000"
            yield server


def try_the_api(server: DevServer, answers: dict) -> None:
    """What the README says to try, a wrong route and method; then the log lines."""
    hello = call(server.url, "/hello")
    name = call(server.url, "/hello/R%C3%A9my?q=1&q=2")
    missing = call(server.url, "/nowhere")
    wrong_method = call(server.url, "/hello", method="POST")
    server.stop()
    assert hello == (200, {"message": "hello unknown!"})
    assert name == (200, {"message": "hello R\u00e9my!"})
    # The gateway's answer for routes template.yaml does not declare.
    assert missing == wrong_method == (404, {"message": "Not found"})
    assert server.returncode == 0, server.stderr
    assert "Traceback" not in server.stderr and "Fatal" not in server.stderr
    assert ('"message":"Greeting"' in server.stdout) == answers["logging"]
    assert ('"CloudWatchMetrics"' in server.stdout) == answers["metrics"]


def assert_checked(done, answers: dict, project: Path) -> None:
    assert done.returncode == 0, done.stdout + done.stderr
    steps = ["ruff check", "ruff format --check", "pytest tests/unit", "sam build"]
    steps.append("validate --lint --template template.yaml")
    if answers["ci"] == "github":
        steps.append("validate --lint --template deploy-role.yaml")
    for step in steps:
        assert step in done.stdout, step
    assert (project / ".aws-sam" / "build" / "HelloWorldFunction" / "app.py").exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    "answers", [pytest.param(a, id=combination_id(a)) for a in QUICK_START_RUNS]
)
def test_quick_start_as_written(bake, tmp_path, answers):
    if answers["build_method"] == "makefile" and shutil.which("make") is None:
        pytest.skip("make not on this machine (build_method=makefile needs it)")
    python = require_interpreter(answers["runtime"])
    project = working_copy(bake, answers, tmp_path)
    setup, serve, check = quick_start_commands(
        (project / "README.md").read_text(encoding="utf-8")
    )[0]
    assert run(["git", "init", "-q"], cwd=project).returncode == 0
    shared_environments(project, python)
    env = user_shell(python)

    done = shell(setup, project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    hook = project / ".git" / "hooks" / "pre-commit"
    assert "pre-commit" in hook.read_text(encoding="utf-8")
    with serving(serve, project, env) as server:
        try_the_api(server, answers)
    assert_checked(shell(check, project, env), answers, project)


def only_these_on_path(directory: Path, programs: list[str]) -> str:
    """A PATH of one directory holding links to these programs (paths, or names
    found on PATH)."""
    directory.mkdir()
    for program in programs:
        found = shutil.which(program)
        assert found, f"{program} not found"
        (directory / Path(program).name).symlink_to(found)
    return str(directory)


def pip_of(venv: Path) -> tuple[int, ...]:
    done = run([str(venv / "bin" / "python"), "-m", "pip", "--version"])
    return tuple(int(n) for n in done.stdout.split()[1].split(".")[:2])


@pytest.mark.slow
def test_quick_start_on_a_stock_python(bake, tmp_path):
    """The README's commands, as a new user runs them: an installed python3.11 (or
    3.12) whose bundled pip is older than 23.3, a PATH with nothing else (its Python,
    git, sh), a folder that is not a git repository yet. A set-up interrupted, then
    check (it says what to do), setup again, serve (with a client that stalls) and
    check; then `git init` and setup again: the hook."""
    stock = stock_python()
    if stock is None:
        pytest.skip(
            "no installed python3.11 or python3.12 on PATH bundles a pip older than"
            f" {'.'.join(map(str, FIXED_PIP))} (pyenv's 3.11.7 and 3.12.1 do)"
        )
    runtime, python, bundled = stock
    answers = {**DEFAULTS, "runtime": runtime}
    project = working_copy(bake, answers, tmp_path)
    setup, serve, check = quick_start_commands(
        (project / "README.md").read_text(encoding="utf-8")
    )[0]
    env = clean_environment()
    env["PATH"] = only_these_on_path(tmp_path / "bin", [python, "git", "sh"])
    env["SAM_CLI_TELEMETRY"] = "0"

    # Ctrl-C while the SAM CLI's environment is being made.
    interrupted = subprocess.Popen(
        ["sh", "-c", f"exec {setup}"], cwd=project, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )  # fmt: skip
    while not (project / ".venv-sam").exists() and interrupted.poll() is None:
        time.sleep(0.1)
    interrupted.send_signal(signal.SIGINT)
    _, errors = interrupted.communicate(timeout=60)
    assert interrupted.returncode == 130, errors
    again = f"dev.py setup: interrupted\n  run `{setup}` again to finish\n"
    assert errors.endswith(again), errors
    told(shell(check, project, env), "check", ".venv-sam is not set up", setup)

    done = shell(setup, project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Not a git repository: after `git init`, run setup again" in done.stdout
    # Made by the stock pip, not one the suite brought.
    assert pip_of(project / ".venv") == pip_of(project / ".venv-sam") < FIXED_PIP
    assert bundled.startswith(".".join(map(str, pip_of(project / ".venv"))))

    with serving(serve, project, env) as server:
        # A client declares a body and sends none of it: others are answered.
        stalled = send_raw(
            server.url, b"POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 9\r\n\r\n"
        )
        started = time.monotonic()
        assert call(server.url, "/hello/x") == (200, {"message": "hello x!"})
        assert time.monotonic() - started < 5
        stalled.shutdown(socket.SHUT_WR)  # and then gives up
        status, headers, body = read_answer(stalled)
        assert (status, headers["Content-Type"]) == (400, "application/json")
        assert "Content-Length" in json.loads(body)["message"]
        try_the_api(server, answers)
    assert_checked(shell(check, project, env), answers, project)

    assert run(["git", "init", "-q"], cwd=project).returncode == 0
    done = shell(setup, project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    hook = project / ".git" / "hooks" / "pre-commit"
    assert "pre-commit" in hook.read_text(encoding="utf-8")


def echoed(url: str, path: str, headers: list[tuple[str, str]] = ()) -> dict:
    parts = urlsplit(url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=10)
    connection.putrequest("GET", path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())


def test_serve_sends_the_events_api_gateway_sends(bake, tmp_path):
    """The event and context dev.py serve gives the handler, field by field, next to
    the REST proxy event `sam local generate-event` makes (events/hello_name.json):
    the path and its parameters as the client sent them, escapes included (the app
    decodes the name once)."""
    project = echoing_project(bake, tmp_path)
    sample = json.loads((project / "events" / "hello_name.json").read_text("utf-8"))
    serve = f"{sys.executable} dev.py serve --port 0"
    with DevServer(serve, project, clean_environment()) as server:
        named = echoed(
            server.url,
            "/hello/R%C3%A9my%2Fx%2541?q=1&q=2&e=a%20b",
            [("X-Two", "a"), ("X-Two", "b")],
        )
        plain = echoed(server.url, "/hello")

    event = named["event"]
    assert set(event) == set(sample)
    assert set(event["requestContext"]) >= {"path", "stage", "requestId", "identity"}
    assert (
        event["resource"]
        == event["requestContext"]["resourcePath"]
        == ("/hello/{name}")
    )
    assert event["httpMethod"] == event["requestContext"]["httpMethod"] == "GET"
    # The path and its parameters as the client sent them, escapes included.
    assert event["path"] == "/hello/R%C3%A9my%2Fx%2541"
    assert event["pathParameters"] == {"name": "R%C3%A9my%2Fx%2541"}
    assert event["requestContext"]["path"] == "/Prod/hello/R%C3%A9my%2Fx%2541"
    assert event["requestContext"]["stage"] == "Prod"
    assert event["queryStringParameters"] == {"q": "2", "e": "a b"}
    assert event["multiValueQueryStringParameters"] == {"q": ["1", "2"], "e": ["a b"]}
    assert event["headers"]["X-Two"] == "b"
    assert event["multiValueHeaders"]["X-Two"] == ["a", "b"]
    assert event["body"] is None and event["isBase64Encoded"] is False
    assert event["requestContext"]["requestId"] == named["aws_request_id"]
    # The context: the function's name and memory from template.yaml, its timeout.
    assert named["function_name"] == "HelloWorldFunction"
    assert named["memory_limit_in_mb"] == 256
    assert 0 < named["remaining"] <= 10_000
    assert plain["event"]["pathParameters"] is None
    assert plain["event"]["queryStringParameters"] is None
    assert plain["event"]["resource"] == "/hello"
    assert named["aws_request_id"] != plain["aws_request_id"]
