"""The generated README's Quick start, as a new user runs it.

The README opens (title, description) with `## Quick start`: one fenced block of
exactly three commands, set up, serve, check (dev.py). For a spread of combinations
(both Powertools sources, both build methods, with and without ci=github) the suite
runs the three lines as written, through the shell, in a fresh git repository: set
up, serve and call the API with an HTTP client, check. The README and app.py stay
short, and every docs/ link resolves in every combination.
"""

from __future__ import annotations

import contextlib
import functools
import http.client
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from filelock import FileLock
from markdown_it import MarkdownIt

from helpers import (
    CACHE,
    baked_project,
    clean_environment,
    digest,
    once,
    post_gen,
    require_interpreter,
    requirement_lines,
    run,
    tool,
    working_copy,
)
from matrix import DEFAULTS, combination_id, matrix_params, quick_matrix

MARKDOWN = MarkdownIt("commonmark").enable("table")
README_LINES = 200
APP_LINES = 80
ADDRESS = "http://127.0.0.1:3000"


def quick_start_commands(readme: str) -> tuple[list[str], list[str]]:
    """The Quick start's bash block (its lines) and the Windows commands (the
    inline code right below it that runs dev.py through the py launcher)."""
    tokens = MARKDOWN.parse(readme)
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
    tokens = MARKDOWN.parse(readme)
    # Title, one paragraph (the description), then the Quick start.
    assert [t.type for t in tokens[:7]] == [
        "heading_open",
        "inline",
        "heading_close",
        "paragraph_open",
        "inline",
        "paragraph_close",
        "heading_open",
    ]
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


def test_readme_and_app_of_the_defaults_are_short(bake):
    project = baked_project(bake, DEFAULTS)
    readme = (project / "README.md").read_text(encoding="utf-8")
    app = (project / "hello_world" / "app.py").read_text(encoding="utf-8")
    assert len(readme.splitlines()) <= README_LINES
    assert len(app.splitlines()) <= APP_LINES


@functools.cache
def markdown_links(text: str) -> tuple[str, ...]:
    """The link targets of a Markdown text (each distinct docs/ page is parsed
    once per process: the matrix repeats them)."""
    found = []
    for token in MARKDOWN.parse(text):
        for child in token.children or []:
            if child.type == "link_open":
                found.append(child.attrs["href"])
    return tuple(found)


@pytest.mark.parametrize("answers", matrix_params())
def test_every_docs_link_resolves(bake, answers):
    """README.md and docs/*.md link only to pages this combination has (each
    docs/ page of a declined option is pruned, and so must be its link)."""
    project = baked_project(bake, answers)
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


# --- the three commands, run as written -----------------------------------------

QUICK_START_RUNS = [
    DEFAULTS,  # layer, pip builder, ci=github
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


def shared_environments(project: Path, python: str) -> None:
    """.venv and .venv-sam made with uv (seeded with pip, as `python -m venv` makes
    them) once per distinct Python and pins, linked into the project: its own
    `dev.py setup` then finds them and brings them up to date, as on a rerun."""
    for venv, requirements in (
        (".venv", "requirements-dev.txt"),
        (".venv-sam", "requirements-sam.txt"),
    ):
        lines = "\n".join(sorted(requirement_lines(project / requirements)))

        def make(target: Path, requirements=requirements) -> None:
            for command in (
                ["venv", "--quiet", "--seed", "--python", python, str(target)],
                ["pip", "install", "--quiet", "--python", str(target / "bin/python")]
                + ["-r", requirements],
            ):
                done = run([tool("uv"), *command], cwd=project)
                assert done.returncode == 0, done.stderr

        name = f"quickstart-{venv[1:]}-{digest(python + lines)}"
        shared = once(CACHE / "envs" / name, make, stamp=lines)
        (project / venv).symlink_to(shared, target_is_directory=True)


def user_shell(python: str) -> dict[str, str]:
    """A user's shell with the runtime's Python first on PATH."""
    env = clean_environment()
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def shell(line: str, project: Path, env: dict[str, str]):
    return run(["sh", "-c", line], cwd=project, env=env)


def call(path: str, method: str = "GET") -> tuple[int, dict[str, str], object]:
    request = urllib.request.Request(ADDRESS + path, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            status, headers, body = response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        status, headers, body = error.code, error.headers, error.read()
    assert headers["Content-Type"] == "application/json"
    assert headers["X-Content-Type-Options"] == "nosniff"
    return status, dict(headers), json.loads(body)


def wait_for_server(server: subprocess.Popen) -> None:
    for _ in range(300):
        assert server.poll() is None, server.communicate()
        try:
            urllib.request.urlopen(ADDRESS + "/", timeout=1)
        except urllib.error.HTTPError:
            return  # an answer: it is serving
        except OSError:
            time.sleep(0.1)
    pytest.fail("dev.py serve did not answer in 30 s")


@contextlib.contextmanager
def serving(serve: str, project: Path, env: dict[str, str]):
    """The serve command running, for one test at a time on port 3000 (whatever
    runs these tests); stopped with Ctrl-C's signal, its output kept."""
    with FileLock(Path(tempfile.gettempdir()) / "quick-start-port-3000.lock"):
        server = subprocess.Popen(
            ["sh", "-c", f"exec {serve}"],
            cwd=project,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        try:
            wait_for_server(server)
            yield server
        finally:
            server.send_signal(signal.SIGINT)  # Ctrl-C
            server.output = server.communicate(timeout=30)


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
    if answers != DEFAULTS:  # the defaults' set-up makes both environments itself
        shared_environments(project, python)
    env = user_shell(python)

    done = shell(setup, project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    hook = project / ".git" / "hooks" / "pre-commit"
    assert "pre-commit" in hook.read_text(encoding="utf-8")

    with serving(serve, project, env) as server:
        hello = call("/hello")
        name = call("/hello/R%C3%A9my?q=1&q=2")
        missing = call("/nowhere")
        wrong_method = call("/hello", method="POST")
    output, errors = server.output
    assert hello[::2] == (200, {"message": "hello unknown!"})
    assert name[::2] == (200, {"message": "hello R\u00e9my!"})
    # The gateway's answer for routes template.yaml does not declare.
    assert missing[::2] == wrong_method[::2] == (404, {"message": "Not found"})
    assert server.returncode == 0, errors
    assert ('"message":"Greeting"' in output) == answers["logging"], output
    assert ('"CloudWatchMetrics"' in output) == answers["metrics"], output

    done = shell(check, project, env)
    assert done.returncode == 0, done.stdout + done.stderr
    steps = ["ruff check", "ruff format --check", "pytest tests/unit", "sam build"]
    steps.append("validate --lint --template template.yaml")
    if answers["ci"] == "github":
        steps.append("validate --lint --template deploy-role.yaml")
    for step in steps:
        assert step in done.stdout, step
    assert (project / ".aws-sam" / "build" / "HelloWorldFunction" / "app.py").exists()


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
        "multiValueHeaders": {"Content-Type": ["application/json"]},
        "body": json.dumps(seen),
    }
"""


def echoed(path: str, headers: list[tuple[str, str]] = ()) -> dict:
    connection = http.client.HTTPConnection("127.0.0.1", 3000, timeout=10)
    connection.putrequest("GET", path)
    for name, value in headers:
        connection.putheader(name, value)
    connection.endheaders()
    response = connection.getresponse()
    assert response.status == 200
    return json.loads(response.read())


@pytest.mark.slow
def test_serve_sends_the_events_api_gateway_sends(bake, tmp_path):
    """The event and context dev.py serve gives the handler, field by field, next to
    the REST proxy event `sam local generate-event` makes (events/hello_name.json)."""
    python = require_interpreter(DEFAULTS["runtime"])
    project = working_copy(bake, DEFAULTS, tmp_path)
    shared_environments(project, python)
    sample = json.loads((project / "events" / "hello_name.json").read_text("utf-8"))
    (project / "hello_world" / "app.py").write_text(ECHO_APP, encoding="utf-8")
    serve = quick_start_commands((project / "README.md").read_text(encoding="utf-8"))[
        0
    ][1]

    with serving(serve, project, user_shell(python)):
        named = echoed(
            "/hello/R%C3%A9my%2Fx?q=1&q=2&e=a%20b", [("X-Two", "a"), ("X-Two", "b")]
        )
        plain = echoed("/hello")

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
    assert event["path"] == "/hello/R%C3%A9my%2Fx"
    assert event["pathParameters"] == {"name": "R%C3%A9my%2Fx"}
    assert event["requestContext"]["path"] == "/Prod/hello/R%C3%A9my%2Fx"
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


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve_on_a_free_port(project: Path) -> tuple[subprocess.Popen, int]:
    """`dev.py serve` in the environment running the tests (serve needs PyYAML
    only), on a port nothing else uses: port 3000 may be taken on this machine."""
    port = free_port()
    # dev.py serve runs in the project's .venv: here, the one running the tests.
    (project / ".venv").symlink_to(Path(sys.prefix), target_is_directory=True)
    command = [sys.executable, "dev.py", "serve"]
    dev = project / "dev.py"
    source = dev.read_text(encoding="utf-8")
    if "--port" in source:
        command += ["--port", str(port)]
    else:  # a dev.py without --port listens on its ADDRESS
        address = 'ADDRESS = ("127.0.0.1", 3000)'
        assert source.count(address) == 1
        dev.write_text(source.replace(address, f'ADDRESS = ("127.0.0.1", {port})'))
    server = subprocess.Popen(
        command,
        cwd=project,
        env=clean_environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return server, port


def test_serve_passes_the_path_as_the_client_sent_it(bake, tmp_path):
    """The fast loop's check of dev.py serve, with the echoing app: the handler
    gets the path and its parameters still percent-encoded, as from API Gateway
    REST (the app decodes the name once)."""
    project = working_copy(bake, DEFAULTS, tmp_path)
    (project / "hello_world" / "app.py").write_text(ECHO_APP, encoding="utf-8")
    server, port = serve_on_a_free_port(project)
    path = "/hello/R%C3%A9my%2Fx%2541"
    try:
        for _ in range(300):
            assert server.poll() is None, server.communicate()
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
                connection.request("GET", path)
                response = connection.getresponse()
                break
            except ConnectionRefusedError:
                time.sleep(0.1)
        else:
            pytest.fail("dev.py serve did not answer in 30 s")
        assert response.status == 200, response.read()
        event = json.loads(response.read())["event"]
    finally:
        server.send_signal(signal.SIGINT)  # Ctrl-C
        server.communicate(timeout=30)

    assert event["path"] == path
    assert event["pathParameters"] == {"name": "R%C3%A9my%2Fx%2541"}
    assert event["requestContext"]["path"] == f"/Prod{path}"
