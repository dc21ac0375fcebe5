"""The API's contract: the generated project's openapi.json, which Powertools writes
from the resolver's routes (`dev.py openapi`), and what keeps it honest.

- The committed document is what `dev.py openapi` writes from the routes, and a
  valid OpenAPI 3 document (openapi-spec-validator), for every distinct app.py: the
  routes of template.yaml, each with its `Message` body and its JSON 500.
- `dev.py check` fails with the difference and the command that writes the document
  when a route is added without it, and names a route that template.yaml lacks (or
  an event without a route).
- `dev.py serve` serves the document and Swagger UI, from files installed by setup;
  Schemathesis, driving serve with that document, finds no failure of its named
  checks, and every method the document does not declare gets the gateway's 404.
- The function imports nothing for it.
- The generated CI's `contract` job: tests/test_contract_job.py.

The projects get their .venv from the tests' shared environment of their own
requirements-dev.txt (conftest.py project_envs), seen through runner_environment.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from openapi_spec_validator import validate

from matrix import COOKIECUTTER_JSON, DEFAULTS, EVERYTHING_OFF, code_matrix
from support.dev_server import DevServer, declare_bye, request, told
from support.documents import load_cfn
from support.environments import (
    THIS_RUNTIME,
    ProjectEnvironments,
    require_this_runtime,
    runner_environment,
)
from support.oasdiff import DOCUMENT
from support.processes import clean_environment, run, tool, user_shell
from support.renders import Renders, working_copy

# Everything off, with the Python running the tests as the runtime: `dev.py check`
# runs with it.
ALL_OFF = {**EVERYTHING_OFF, "runtime": THIS_RUNTIME}
# Free text that must reach the document as typed, through pyproject.toml (TOML)
# and the rendered openapi.json (JSON, ASCII only).
HOSTILE = {
    "project_name": 'Caf\u00e9 "quoted" \\ back <b>&</b> \U0001f469\u200d\U0001f4bb',
    "description": 'It\'s `code`, a "quote" and a backslash \\ (\u65e5\u672c\u8a9e).',
}
METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


def contract_project(
    bake: Renders, project_envs: ProjectEnvironments, answers: dict, destination: Path
) -> Path:
    """A copy of the rendering whose .venv has its requirements-dev.txt (what setup
    installs: Powertools, pydantic, swagger-ui-py), and a .venv-sam that dev.py
    takes as set up (the tests here stop before the SAM CLI runs)."""
    project = working_copy(bake, answers, destination)
    python = project_envs.python_for(project)
    (packages,) = python.parent.parent.glob("lib/python*/site-packages")
    runner_environment(project, packages)
    runner_environment(project, name=".venv-sam")
    return project


def dev(project: Path, *arguments: str) -> subprocess.CompletedProcess:
    return run(
        [sys.executable, "dev.py", *arguments],
        cwd=project,
        env=user_shell(sys.executable),
    )


def operations(document: dict) -> set[tuple[str, str]]:
    return {
        (method.upper(), path)
        for path, item in document["paths"].items()
        for method in item
        if method in METHODS
    }


def declared_events(project: Path) -> set[tuple[str, str]]:
    resources = load_cfn(project / "template.yaml")["Resources"]
    events = resources["HelloWorldFunction"]["Properties"]["Events"].values()
    return {
        (e["Properties"]["Method"].upper(), e["Properties"]["Path"])
        for e in events
        if e["Type"] == "Api"
    }


# --- the document ------------------------------------------------------------------


def assert_describes_the_api(project: Path, answers: dict) -> dict:
    """The document of the project's routes: valid OpenAPI 3, its operations
    template.yaml's events, each answering Message with 200 and with 500, and the
    title and description of the answers."""
    document = json.loads((project / DOCUMENT).read_text(encoding="utf-8"))
    validate(document)
    assert document["openapi"].startswith("3.")
    assert operations(document) == declared_events(project)
    for path, item in document["paths"].items():
        operation = item["get"]
        for status in ("200", "500"):
            content = operation["responses"][status]["content"]
            schema = content["application/json"]["schema"]
            assert schema == {"$ref": "#/components/schemas/Message"}, (path, status)
        parameters = {p["name"] for p in operation.get("parameters", [])}
        assert parameters == set(re.findall(r"\{(\w+)\}", path))
    (schema,) = document["components"]["schemas"].values()
    assert schema["properties"] == {"message": {"type": "string", "title": "Message"}}
    assert schema["required"] == ["message"] and schema["type"] == "object"
    pyproject = tomllib.loads((project / "pyproject.toml").read_text("utf-8"))
    info = pyproject["tool"]["openapi"]
    assert document["info"] == {
        "title": answers.get("project_name", COOKIECUTTER_JSON["project_name"]),
        "description": answers.get("description", COOKIECUTTER_JSON["description"]),
        "version": "1.0.0",
    }
    assert info == document["info"]
    return document


@pytest.mark.parametrize(
    "scope", ["quick", pytest.param("full", marks=pytest.mark.slow)]
)
def test_the_document_is_the_routes_and_valid_openapi(
    bake, project_envs, tmp_path, scope
):
    """For every distinct app.py (json_resolver.py follows the same answers), the
    committed document is what `dev.py openapi` writes from its routes; in the
    quick scope, one of them with free-text answers that JSON and TOML escape."""
    quick = [DEFAULTS, {**ALL_OFF, **HOSTILE}]
    combinations = quick if scope == "quick" else code_matrix()
    renderings = bake.distinct("hello_world/app.py", combinations)
    assert len(renderings) == (2 if scope == "quick" else 8)
    for number, rendering in enumerate(renderings):
        answers = rendering.combinations[0]
        project = working_copy(bake, answers, tmp_path / str(number))
        python = project_envs.python_for(project)
        (packages,) = python.parent.parent.glob("lib/python*/site-packages")
        runner_environment(project, packages)
        written = dev(project, "openapi")
        assert written.returncode == 0, written.stderr
        assert written.stdout == f"{DOCUMENT} is up to date with the routes\n"
        assert_describes_the_api(project, answers)
        assert (project / DOCUMENT).read_bytes().isascii()


def test_the_function_imports_nothing_for_the_document(bake, project_envs, tmp_path):
    """Only `dev.py openapi` needs pydantic (and serve, Swagger UI's files): the
    deployed function, answering a request, imports neither."""
    project = contract_project(bake, project_envs, DEFAULTS, tmp_path)
    probe = """
import json, sys
sys.path.insert(0, "hello_world")
import app
event = json.load(open("events/hello_name.json"))
class Context:
    function_name = "f"; memory_limit_in_mb = 128; aws_request_id = "r"
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:f"
assert app.lambda_handler(event, Context())["statusCode"] == 200
print(sorted({m.split(".")[0] for m in sys.modules} & {"pydantic", "swagger_ui"}))
"""
    env = {**clean_environment(), "POWERTOOLS_METRICS_NAMESPACE": "Probe"}
    env["POWERTOOLS_TRACE_DISABLED"] = "true"
    done = run([str(project / ".venv/bin/python"), "-c", probe], cwd=project, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


# --- dev.py check and dev.py openapi -----------------------------------------------

ROUTE = """

@app.get("/bye")
def bye() -> Message:
    return greeting("bye")
"""


def failure(done: subprocess.CompletedProcess) -> tuple[str, str]:
    """The two lines dev.py ends a failure with: what, and what to do."""
    assert done.returncode == 1, done.stdout + done.stderr
    what, advice = done.stderr.rstrip("\n").splitlines()
    assert what.startswith("dev.py check: ") and advice.startswith("  ")
    assert "Traceback" not in done.stderr
    return what, advice


def test_check_asks_for_the_document_and_names_a_route_template_yaml_lacks(
    bake, project_envs, tmp_path
):
    require_this_runtime()
    project = contract_project(bake, project_envs, ALL_OFF, tmp_path)
    command = f"`{THIS_RUNTIME} dev.py openapi`"
    app = project / "hello_world" / "app.py"
    code = app.read_text(encoding="utf-8")
    # A route in the code only: named, with where to declare it.
    app.write_text(code + ROUTE, encoding="utf-8")
    what, advice = failure(dev(project, "check"))
    assert "GET /bye (a route, no Api event)" in what, what
    assert "template.yaml" in advice
    assert command in advice  # the document is due too: both said at once
    # Declared in template.yaml too, the document not written again: the difference
    # and the command that writes it.
    declare_bye(project)
    done = dev(project, "check")
    what, advice = failure(done)
    assert f"{DOCUMENT} is not what the routes give" in what
    assert command in advice
    assert '+    "/bye": {' in done.stdout
    assert len(done.stdout.split("--- openapi.json (committed)")[1].splitlines()) <= 32
    # Written again: the contract holds (what check runs before the unit tests),
    # and a second run has nothing to write.
    written = dev(project, "openapi")
    assert written.stdout == f"wrote {DOCUMENT} from the routes: commit it with them\n"
    contract = run(
        [sys.executable, "-c", "import dev; dev.check_contract()"],
        cwd=project,
        env=user_shell(sys.executable),
    )
    assert contract.returncode == 0, contract.stderr
    assert ("GET", "/bye") in operations(json.loads((project / DOCUMENT).read_text()))
    # The route gone from the code, its event left: named too.
    app.write_text(code, encoding="utf-8")
    what, advice = failure(dev(project, "check"))
    assert "GET /bye (an Api event, no route)" in what, what
    assert command in advice
    # No title and version to write: said in two lines.
    pyproject = project / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8")
    pyproject.write_text(text.replace("[tool.openapi]", "[tool.other]"), "utf-8")
    told(dev(project, "openapi"), "openapi", "[tool.openapi] has no title or version")


# --- dev.py serve: the document, Swagger UI, Schemathesis --------------------------


def served(project: Path) -> DevServer:
    line = f"{sys.executable} dev.py serve --port 0"
    return DevServer(line, project, clean_environment())


def printed_urls(server: DevServer) -> tuple[str, str]:
    """The document's and Swagger UI's addresses, as serve prints them."""
    line = next(
        line
        for line in server.output()[0].splitlines()
        if line.startswith("The API's OpenAPI document: ")
    )
    document, page = re.findall(r"http://[\d.:]+/\S*[^\s,]", line)
    return document, page


def test_serve_serves_the_routes_document_and_swagger_ui_from_local_files(
    bake, project_envs, tmp_path
):
    """A route saved in app.py and template.yaml, openapi.json not written again:
    serve's document is the routes' it serves, and serve says openapi.json is not."""
    project = contract_project(bake, project_envs, DEFAULTS, tmp_path)
    app = project / "hello_world" / "app.py"
    app.write_text(app.read_text(encoding="utf-8") + ROUTE, encoding="utf-8")
    declare_bye(project)
    with served(project) as server:
        document_url, page_url = printed_urls(server)
        assert document_url == f"{server.url}/_dev/{DOCUMENT}"
        status, headers, body = request(server.url, urlsplit(document_url).path)
        assert status == 200 and headers["Content-Type"] == "application/json"
        served_document = json.loads(body)
        validate(served_document)
        assert operations(served_document) == declared_events(project)
        assert ("GET", "/bye") in operations(served_document)
        status, headers, page = request(server.url, urlsplit(page_url).path)
        assert status == 200 and headers["Content-Type"].startswith("text/html")
        # Nothing from the internet: the browser may load only what serve serves.
        assert headers["Content-Security-Policy"].startswith("default-src 'self';")
        linked = re.findall(r'(?:src|href)="([^"]+)"', page.decode("utf-8"))
        assert linked and not [u for u in linked if "/" in u or ":" in u], linked
        for name in linked:
            status, headers, body = request(server.url, f"/_dev/{name}")
            assert status == 200 and body, name
            assert headers["X-Content-Type-Options"] == "nosniff"
            assert headers["Content-Type"] in ("text/css", "text/javascript"), name
        # The document is only read: other methods get the gateway's 404.
        posted = request(server.url, f"/_dev/{DOCUMENT}", "POST")
        assert (posted[0], json.loads(posted[2])) == (404, {"message": "Not found"})
        warning = f"dev.py serve: {DOCUMENT} is not what these routes give: "
        deadline = time.monotonic() + 30
        while warning not in server.output()[1] and time.monotonic() < deadline:
            time.sleep(0.1)
    command = f"`{DEFAULTS['runtime']} dev.py openapi` writes it from them"
    assert f"{warning}{command}" in server.stderr


# Schemathesis's checks run on every answer; its others are left out on purpose:
# unsupported_method expects 405 for an undeclared method, where API Gateway (and
# serve) answer the JSON 404 of template.yaml's gateway response, which
# test_schemathesis_finds_no_failure checks itself.
CHECKS = [
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_schema_conformance",
]


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(DEFAULTS, id="defaults"),
        pytest.param(ALL_OFF, id="all-off", marks=pytest.mark.slow),
    ],
)
def test_schemathesis_finds_no_failure(bake, project_envs, tmp_path, answers):
    project = contract_project(bake, project_envs, answers, tmp_path / "project")
    report = tmp_path / "report.har"
    with served(project) as server:
        document_url, _ = printed_urls(server)
        done = run(
            [
                tool("schemathesis"),
                "run",
                document_url,
                "--checks",
                ",".join(CHECKS),
                "--max-examples",
                "25",
                "--generation-database",
                "none",
                "--no-color",
                "--report",
                "har",
                "--report-har-path",
                str(report),
            ],
            cwd=tmp_path,
        )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "No issues found" in done.stdout, done.stdout
    document = json.loads((project / DOCUMENT).read_text(encoding="utf-8"))
    declared = {
        (method, re.compile("^" + re.sub(r"\\\{\w+\\\}", "[^/]+", re.escape(p)) + "$"))
        for method, p in operations(document)
    }
    entries = json.loads(report.read_text(encoding="utf-8"))["log"]["entries"]
    methods = {e["request"]["method"] for e in entries}
    assert {"GET", "POST", "DELETE"} <= methods, methods  # it tried undeclared ones
    for entry in entries:
        method = entry["request"]["method"]
        path = urlsplit(entry["request"]["url"]).path
        response = entry["response"]
        if any(m == method and p.match(path) for m, p in declared):
            assert response["status"] == 200, (method, path, response)
        else:
            body = json.loads(response["content"]["text"])
            assert (response["status"], body) == (404, {"message": "Not found"})
