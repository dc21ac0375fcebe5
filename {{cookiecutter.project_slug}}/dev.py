"""The project's commands, the same on Linux, macOS and Windows:

    python3.X dev.py setup   .venv (the function, tests, linters), .venv-sam (the
                             SAM CLI), the git pre-commit hook; rerunnable
    python3.X dev.py serve   the API at http://127.0.0.1:3000 (--port N for
                             another) until Ctrl-C, without Docker (below)
    python3.X dev.py check   what CI checks: ruff, ty (types), the routes against
                             template.yaml and openapi.json, unit tests,
                             sam validate --lint, sam build
    python3.X dev.py openapi writes the API's OpenAPI document, openapi.json,
                             again from the function's routes (docs/api.md)

Run it with the function's Python, the Runtime in template.yaml (on Windows
`py -3.X dev.py ...`): `sam build` needs it too. Standard library only.

`serve` runs the function in a process of .venv's Python and starts that process
again whenever template.yaml, pyproject.toml or a Python file of the project
changes (a change that breaks the import is reported, and the next good save
recovers). There the function's own handler is called, one event at a time, with
the events API Gateway (REST) would send it for the routes in template.yaml: the
path still percent-encoded, query strings and headers in both forms, a request
context, a Lambda context; other paths and methods get the API's gateway response.
Requests are read concurrently, each within READ_TIMEOUT seconds. Only the
{% if cookiecutter.tracing %}
function's environment variables from template.yaml are set: no AWS credentials,
no layer, no X-Ray (Powertools' Tracer is off outside Lambda). Under DEV_PATH it
{% else %}
function's environment variables from template.yaml are set: no AWS credentials,
no layer. Under DEV_PATH it
{% endif %}
also serves the API's OpenAPI document, written from the routes it serves, and
Swagger UI (swagger-ui-py's files) to browse and call the API.
"""

from __future__ import annotations

import argparse
import base64
import difflib
import errno
import hashlib
import html
import importlib.util
import io
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import tomllib
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import NoReturn
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent
# The function's requirements, the tests and linters (requirements-dev.txt).
VENV = ROOT / ".venv"
# The SAM CLI alone (requirements-sam.txt): it pins its own boto3 and click.
SAM_VENV = ROOT / ".venv-sam"
REQUIREMENTS = {VENV: "requirements-dev.txt", SAM_VENV: "requirements-sam.txt"}
# Written into an environment once setup has installed all of it: what it was
# installed from. Missing after an interrupted or failed setup.
SET_UP = "dev-py-setup.txt"
HOST = "127.0.0.1"
PORT = 3000  # sam local start-api's
# How long a client may take to send its request line, headers and body.
READ_TIMEOUT = 10
# API Gateway's largest request payload (REST APIs).
MAX_BODY = 10 * 1024 * 1024
# Set in the process that serves: the listening socket the reloader passes it.
SERVE_SOCKET = "DEV_PY_SERVE_SOCKET"
COMMAND = "dev.py"  # "dev.py setup" once the command is known, for messages
# The API's OpenAPI document (docs/api.md), and where serve serves it, with Swagger
# UI: a path of serve's own, after the routes of template.yaml.
DOCUMENT = "openapi.json"
DEV_PATH = "/_dev/"
# How much of openapi.json's difference from the routes check shows.
DIFF_LINES = 30


def fail(problem: str, advice: str, code: int = 1) -> NoReturn:
    """Stop with what went wrong and what to do, never a traceback."""
    print(f"{COMMAND}: {problem}\n  {advice}", file=sys.stderr, flush=True)
    sys.exit(code)


def runtime() -> tuple[int, int]:
    """The function's Python, as template.yaml declares it."""
    try:
        template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    except OSError as error:
        fail(f"cannot read template.yaml: {error.strerror}", "put it back")
    found = re.search(r"^ +Runtime: python(\d+)\.(\d+)\s*$", template, re.MULTILINE)
    if not found:
        fail("template.yaml declares no `Runtime: python3.X`", "put it back")
    return int(found.group(1)), int(found.group(2))


def this(command: str) -> str:
    """How to run a command of this script with the function's Python."""
    version = "{}.{}".format(*runtime())
    python = f"py -{version}" if os.name == "nt" else f"python{version}"
    return f"{python} dev.py {command}"


def executable(venv: Path, name: str) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


def shown(part: object) -> str:
    if isinstance(part, Path) and ROOT in part.parents:
        return str(part.relative_to(ROOT))
    return str(part)


def run(*command: object, advice: str, env: dict[str, str] | None = None) -> None:
    """Run a command in the project folder; stop with its exit code, and advice,
    if it fails."""
    line = " ".join(map(shown, command))
    print("+", line, flush=True)
    try:
        code = subprocess.call([str(c) for c in command], cwd=ROOT, env=env)
    except OSError as error:
        fail(f"cannot run {shown(command[0])}: {error.strerror}", advice)
    if code:
        fail(f"`{line}` failed (exit code {code}, above)", advice, code)


def require_runtime() -> None:
    if sys.version_info[:2] != runtime():
        python = "python{}.{}".format(*runtime())
        fail(
            f"run me with {python}, the function's runtime in template.yaml, not "
            f"Python {sys.version.split()[0]}",
            f"`{this(COMMAND.split()[-1])}`; no {python}? Install it (python.org, "
            'pyenv), or render the project for another runtime (README.md, "Change '
            'an answer")',
        )


# --- setup -----------------------------------------------------------------------


def pins(requirements: Path) -> list[str]:
    """A requirements file's lines, comments left out, each included file's (-r)
    in its place."""
    lines = []
    for line in requirements.read_text(encoding="utf-8").splitlines():
        line = line.split(" #")[0].strip()
        if line.startswith("-r "):
            lines += pins(requirements.parent / line[3:].strip())
        elif line and not line.startswith("#"):
            lines.append(line)
    return lines


def stamp(venv: Path) -> str:
    """What a complete environment was set up from: the Python and the pins."""
    lines = ["python{}.{}".format(*runtime()), *pins(ROOT / REQUIREMENTS[venv])]
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def require_setup(*venvs: Path) -> None:
    """Stop, saying so, unless setup completed each environment from today's pins."""
    for venv in venvs:
        marker = venv / SET_UP
        if not marker.exists():
            problem = (
                f"{venv.name} is not set up (setup has not run, or did not finish)"
            )
        elif marker.read_text(encoding="utf-8") != stamp(venv):
            problem = (
                f"{REQUIREMENTS[venv]} or the runtime changed since the last setup"
            )
        else:
            continue
        fail(problem, f"run `{this('setup')}` first")


def usable(python: Path) -> bool:
    """An environment of the function's Python, with pip: else made again."""
    if not python.exists():
        return False
    probe = f"import sys, pip; sys.exit(sys.version_info[:2] != {runtime()})"
    return subprocess.call([python, "-c", probe], stderr=subprocess.DEVNULL) == 0


def make_venv(venv: Path, *pip_options: str) -> None:
    """A virtual environment of this Python with the pins of its requirements file:
    kept if setup completed it from the same pins, made again if it is missing,
    broken or of another Python, else brought up to date; marked complete last, so
    that an interrupted setup is seen, and redone by the next."""
    again = f"run `{this('setup')}` again once that is fixed"
    marker = venv / SET_UP
    python = executable(venv, "python")
    if not usable(python):
        run(sys.executable, "-m", "venv", "--clear", venv, advice=again)
    elif marker.exists() and marker.read_text(encoding="utf-8") == stamp(venv):
        print(f"{venv.name} is up to date with {REQUIREMENTS[venv]}", flush=True)
        return
    if marker.exists():
        marker.unlink()
    pip = (python, "-m", "pip", "--disable-pip-version-check")
    install = ("install", "--quiet", *pip_options, "-r", REQUIREMENTS[venv])
    run(*pip, *install, advice=again)
    if "--no-deps" in pip_options:  # the lock itself must be complete
        run(*pip, "check", advice=f"the lock is incomplete: {again}")
    mark_set_up(venv)


def mark_set_up(venv: Path) -> None:
    """Record that the environment is complete, with what it was made from."""
    marker = venv / SET_UP
    partial = marker.with_name(marker.name + ".partial")
    partial.write_text(stamp(venv), encoding="utf-8")
    os.replace(partial, marker)


def setup(_: argparse.Namespace) -> None:
    require_runtime()
    make_venv(VENV)
    # The SAM CLI from its lock alone, every file checked against its hash, nothing
    # resolved: requirements-sam.txt is complete for every platform (uv pip compile
    # --universal). Resolving it would need pip 23.3 or later, which matches
    # aws-sam-cli's boto3-stubs[...] extras to the pinned boto3-stubs (pip's 23.3
    # changelog, #12095); the pip that Python 3.11.0-3.11.7 and 3.12.0-3.12.1 bundle
    # refuses the lock (pip issue #12345).
    make_venv(SAM_VENV, "--require-hashes", "--no-deps")
    if (ROOT / ".git").exists():
        run(
            executable(VENV, "pre-commit"),
            "install",
            advice="the git hook is not installed: fix the above, then run setup again",
        )
    else:
        print("Not a git repository: after `git init`, run setup again to install")
        print("the pre-commit hook (ruff, cfn-lint before each commit).")


# --- check -----------------------------------------------------------------------


def check(_: argparse.Namespace) -> None:
    require_runtime()
    require_setup(VENV, SAM_VENV)
    python = executable(VENV, "python")
    run(python, "-m", "ruff", "check", ".", advice="fix what ruff reports")
    run(
        python,
        "-m",
        "ruff",
        "format",
        "--check",
        ".",
        advice=f"`{shown(python)} -m ruff format .` formats them",
    )
    run(
        python,
        "-m",
        "ty",
        "check",
        "--python",
        VENV,
        advice="fix the types ty reports (pyproject.toml [tool.ty] says where)",
    )
    check_contract()
    run(python, "-m", "pytest", "tests/unit", advice="fix the failing tests")
    env = dict(os.environ)
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    # cfn-lint lints for one region: the AWS CLI's, else us-east-1.
    if not ({"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} & set(env)):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    # sam build looks for the runtime's python3.X on PATH: the one running this.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    sam = executable(SAM_VENV, "sam")
    for template in sorted(ROOT.glob("*.yaml")):
        if "AWSTemplateFormatVersion" in template.read_text(encoding="utf-8"):
            run(
                sam,
                "validate",
                "--lint",
                "--template",
                template.name,
                env=env,
                advice=f"fix {template.name} where cfn-lint says",
            )
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    if "BuildMethod: makefile" in template and not shutil.which(
        "make", path=env["PATH"]
    ):
        fail(
            "sam build runs the function's Makefile, and make is not on PATH",
            "install make (Linux: your packages; macOS: xcode-select --install; "
            "Windows: WSL or MSYS2)",
        )
    run(sam, "build", env=env, advice="fix what sam build reports")


# --- openapi: the API's contract --------------------------------------------------


def read_routes() -> dict:
    """What .venv's Python reads from the function (read_routes_into): the document
    its routes give, and where they and template.yaml's Api events differ."""
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "routes.json"
        code = "import sys, dev; dev.read_routes_into(sys.argv[1])"
        python = executable(VENV, "python")
        if subprocess.call([python, "-c", code, target], cwd=ROOT):
            fail(
                "the function's routes cannot be read: importing it failed (above)",
                "fix what the traceback shows, then run me again",
            )
        found = json.loads(target.read_text(encoding="utf-8"))
    if "problem" in found:
        fail(*found["problem"])
    return found


def committed_document() -> str:
    try:
        return (ROOT / DOCUMENT).read_text(encoding="utf-8")
    except FileNotFoundError:
        return ""


def openapi(_: argparse.Namespace) -> None:
    require_setup(VENV)
    document = read_routes()["document"]
    if document == committed_document():
        print(f"{DOCUMENT} is up to date with the routes", flush=True)
        return
    (ROOT / DOCUMENT).write_text(document, encoding="utf-8", newline="\n")
    print(f"wrote {DOCUMENT} from the routes: commit it with them", flush=True)


def check_contract() -> None:
    """The function's routes are template.yaml's Api events, and openapi.json is
    the document they give."""
    print(f"+ the routes against template.yaml's Api events and {DOCUMENT}", flush=True)
    found = read_routes()
    mismatches = [f"{r} (a route, no Api event)" for r in found["undeclared"]]
    mismatches += [f"{e} (an Api event, no route)" for e in found["unrouted"]]
    committed = committed_document()
    if mismatches:
        # Both at once when both are due: a new route usually needs both.
        then = (
            f", then `{this('openapi')}` writes {DOCUMENT} from the routes"
            if found["document"] != committed
            else ""
        )
        fail(
            f"the function's routes and template.yaml differ: {', '.join(mismatches)}",
            "declare each route in the code and as an Api event of the function in"
            f' template.yaml (README.md, "Develop"){then}',
        )
    if found["document"] != committed:
        lines = list(
            difflib.unified_diff(
                committed.splitlines(),
                found["document"].splitlines(),
                f"{DOCUMENT} (committed)",
                f"{DOCUMENT} (from the routes)",
                n=1,
                lineterm="",
            )
        )
        print("\n".join(lines[:DIFF_LINES]), flush=True)
        if len(lines) > DIFF_LINES:
            print(f"... {len(lines) - DIFF_LINES} lines more", flush=True)
        fail(
            f"{DOCUMENT} is not what the routes give (the difference is above)",
            f"`{this('openapi')}` writes it from them: commit it with them",
        )


# Run by .venv's Python (Powertools writes the document, with pydantic).

METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")


class NoDocument(Exception):
    """Why the function gives no document: (what, what to do), said in two lines."""


def document_of(function: Function) -> str:
    """openapi.json's text: the document the resolver of the function's module
    writes from its routes, with pyproject.toml's [tool.openapi] title, description
    and version, less the schemas it does not use."""
    module = function.module
    try:
        from aws_lambda_powertools.event_handler.api_gateway import ApiGatewayResolver
    except ModuleNotFoundError:  # a function without Powertools
        resolvers = []
    else:
        found = vars(module).values()
        resolvers = [v for v in found if isinstance(v, ApiGatewayResolver)]
    if len(resolvers) != 1:
        where = shown(Path(module.__file__ or module.__name__))
        raise NoDocument(
            f"{where} holds {len(resolvers)} Powertools"
            " resolvers: the document is written from one",
            "keep the routes on one resolver (app = JsonResolver(...))",
        )
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    info = pyproject.get("tool", {}).get("openapi", {})
    if not {"title", "version"} <= set(info):
        raise NoDocument(
            "pyproject.toml's [tool.openapi] has no title or version",
            "put them back (docs/api.md)",
        )
    try:
        written = resolvers[0].get_openapi_json_schema(
            title=info["title"],
            version=info["version"],
            description=info.get("description"),
        )
    except ModuleNotFoundError as error:
        if error.name != "pydantic":
            raise
        raise NoDocument(
            "Powertools needs pydantic to write the document, and it is not installed",
            f"keep pydantic in requirements-dev.txt, then run `{this('setup')}`",
        ) from None
    document = json.loads(written)
    used_schemas_only(document)
    # ASCII only, as cookiecutter's jsonify writes the first one.
    return json.dumps(document, indent=2) + "\n"


def used_schemas_only(document: dict) -> None:
    """Leave out the component schemas no operation refers to, directly or through
    another schema: Powertools adds its validation errors' to every document
    (event_handler/openapi/schema_generator.py), which this API never answers."""
    components = document.get("components", {})
    schemas = components.get("schemas", {})
    prefix = "#/components/schemas/"
    used: set[str] = set()
    todo = [document["paths"]]
    while todo:
        text = json.dumps(todo.pop())
        found = set(re.findall(f'"{re.escape(prefix)}([^"]+)"', text)) - used
        used |= found
        todo += [schemas[name] for name in found if name in schemas]
    for name in set(schemas) - used:
        del schemas[name]
    if not schemas:
        components.pop("schemas", None)
    if not components:
        document.pop("components", None)


def read_routes_into(target: str) -> None:
    """(In .venv) read_routes' answer, written as JSON into `target`."""
    function = Function(load_template())
    try:
        document = document_of(function)
    except NoDocument as error:
        Path(target).write_text(json.dumps({"problem": error.args}), encoding="utf-8")
        return
    paths = json.loads(document)["paths"]
    operations = [(m.upper(), p) for p, item in paths.items() for m in item]
    operations = [(m, p) for m, p in operations if m.lower() in METHODS]
    answer = {
        "document": document,
        "undeclared": [
            f"{m} {p}"
            for m, p in operations
            if not any(r.covers(m, p) for r in function.routes)
        ],
        "unrouted": [
            f"{r.method} {r.resource}"
            for r in function.routes
            if not r.greedy and not any(r.covers(m, p) for m, p in operations)
        ],
    }
    Path(target).write_text(json.dumps(answer), encoding="utf-8")


# --- serve: API Gateway in front of the handler -----------------------------------


def load_template() -> dict:
    import yaml

    class Loader(yaml.SafeLoader):
        """template.yaml with CloudFormation's short forms (!Ref x -> {"Ref": x})."""

    def short_form(loader: Loader, suffix: str, node: yaml.Node) -> dict:
        name = "Ref" if suffix == "Ref" else f"Fn::{suffix}"
        if isinstance(node, yaml.ScalarNode):
            return {name: loader.construct_scalar(node)}
        if isinstance(node, yaml.SequenceNode):
            return {name: loader.construct_sequence(node)}
        return {name: loader.construct_mapping(node)}

    Loader.add_multi_constructor("!", short_form)
    text = (ROOT / "template.yaml").read_text(encoding="utf-8")
    return yaml.load(text, Loader=Loader)  # noqa: S506 (a SafeLoader subclass)


class Route:
    def __init__(self, method: str, resource: str) -> None:
        self.method = method.upper()
        self.resource = resource
        self.parts = resource.strip("/").split("/")

    def match(self, method: str, path: str) -> dict[str, str] | None:
        """The path parameters, still percent-encoded, if this route takes it."""
        if self.method not in ("ANY", method):
            return None
        segments = path.strip("/").split("/")
        parameters = {}
        for index, part in enumerate(self.parts):
            if part.startswith("{") and part.endswith("+}"):
                rest = "/".join(segments[index:])
                if not rest:
                    return None
                parameters[part[1:-2]] = rest
                return parameters
            if index >= len(segments) or not segments[index]:
                return None
            if part.startswith("{"):
                parameters[part[1:-1]] = segments[index]
            elif part != segments[index]:
                return None
        return parameters if len(segments) == len(self.parts) else None

    @property
    def greedy(self) -> bool:
        return self.parts[-1].endswith("+}")

    def covers(self, method: str, resource: str) -> bool:
        """Whether API Gateway sends this route's requests here (a route of the
        function's resolver, in OpenAPI's form: /hello/{name})."""
        if self.method not in ("ANY", method):
            return False
        if self.greedy:
            prefix = "/" + "/".join(self.parts[:-1])
            return resource.startswith(prefix.rstrip("/") + "/")
        return resource.rstrip("/") == self.resource.rstrip("/")

    def specificity(self) -> tuple[int, int]:
        # API Gateway prefers literal segments over parameters, then longer paths.
        literal = sum(not p.startswith("{") for p in self.parts)
        return literal, len(self.parts)


class Function:
    """The template's function behind the API: its routes, handler and settings."""

    def __init__(self, template: dict) -> None:
        functions = {
            name: resource
            for name, resource in template["Resources"].items()
            if resource["Type"] == "AWS::Serverless::Function"
            and any(
                e["Type"] == "Api"
                for e in resource["Properties"].get("Events", {}).values()
            )
        }
        if len(functions) != 1:
            names = ", ".join(functions) or "none"
            raise ValueError(f"serve needs one function with Api events, not {names}")
        ((self.name, function),) = functions.items()
        properties = function["Properties"]
        events = [e for e in properties["Events"].values() if e["Type"] == "Api"]
        self.routes = sorted(
            (Route(e["Properties"]["Method"], e["Properties"]["Path"]) for e in events),
            key=Route.specificity,
            reverse=True,
        )
        api_id = events[0]["Properties"].get("RestApiId", {}).get("Ref")
        api = template["Resources"].get(api_id, {}).get("Properties", {})
        self.stage = api.get("StageName", "Prod")
        self.missing_route = api.get("GatewayResponses", {}).get(
            "MISSING_AUTHENTICATION_TOKEN", {}
        )
        self.memory = int(properties.get("MemorySize", 128))
        self.timeout = int(properties.get("Timeout", 3))
        variables = properties.get("Environment", {}).get("Variables", {})
        for key, value in variables.items():
            os.environ.setdefault(key, str(value))
        module, _, handler = properties["Handler"].rpartition(".")
        sys.path.insert(0, str(ROOT / properties["CodeUri"]))
        self.module = __import__(module)
        self.handler = getattr(self.module, handler)

    def route(self, method: str, path: str) -> tuple[Route, dict[str, str]] | None:
        for route in self.routes:
            parameters = route.match(method, path)
            if parameters is not None:
                return route, parameters
        return None


class Context:
    """What Lambda passes the handler beside the event."""

    def __init__(self, function: Function, request_id: str) -> None:
        self.function_name = function.name
        self.function_version = "$LATEST"
        self.memory_limit_in_mb = function.memory
        self.invoked_function_arn = (
            f"arn:aws:lambda:us-east-1:123456789012:function:{function.name}"
        )
        self.aws_request_id = request_id
        self.log_group_name = f"/aws/lambda/{function.name}"
        self.log_stream_name = "local"
        self.deadline = time.monotonic() + function.timeout

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


def by_name(pairs: list[tuple[str, str]]) -> tuple[dict | None, dict | None]:
    """API Gateway's two forms: the last value of each name, and all of them."""
    multi: dict[str, list[str]] = {}
    for name, value in pairs:
        multi.setdefault(name, []).append(value)
    if not multi:
        return None, None
    return {name: values[-1] for name, values in multi.items()}, multi


JSON = {"Content-Type": ["application/json"], "X-Content-Type-Options": ["nosniff"]}
# Swagger UI at DEV_PATH: its files from swagger-ui-py (requirements-dev.txt), and a
# policy that lets the page load nothing but what serve serves.
PAGE = """<!DOCTYPE html>
<html lang="en">
<head><meta charset="utf-8"><title>{title}</title>
<link rel="stylesheet" href="swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="swagger-ui-bundle.js"></script><script src="start.js"></script></body>
</html>
"""
START = """window.ui = SwaggerUIBundle({
  url: "openapi.json", dom_id: "#swagger-ui", validatorUrl: null
});
"""
PAGE_POLICY = (
    "default-src 'self'; img-src 'self' data:; style-src 'self' 'unsafe-inline'"
)
SWAGGER_UI = {"swagger-ui.css": "text/css", "swagger-ui-bundle.js": "text/javascript"}
FAILED = b'{"message": "Internal server error"}'  # API Gateway's for a failed invoke


class Gateway(BaseHTTPRequestHandler):
    """One connection: its request read in a thread of its own (READ_TIMEOUT), the
    handler called under a lock, as one Lambda environment runs one event at a
    time (Powertools keeps the current event, Logger's keys and Metrics in module
    state)."""

    function: Function | None = None  # None: it failed to load (reported)
    document: str | None = None  # openapi.json from the routes served, once read
    calls = threading.Lock()
    timeout = READ_TIMEOUT
    server_version = "dev.py"

    def handle(self) -> None:
        try:
            super().handle()
        except (ConnectionError, TimeoutError):  # the client went: no one to answer
            self.close_connection = True

    def __getattr__(self, name: str):
        # Every method, TRACE, CONNECT and unknown ones included, goes where
        # API Gateway sends it: a route, or the API's gateway response.
        if name.startswith("do_"):
            return self.do_request
        raise AttributeError(name)

    def do_request(self) -> None:
        body = self.read_body()
        if body is None:
            return  # refused, answered
        function = self.function
        if function is None:
            self.answer(502, JSON, FAILED)
            return
        url = urlsplit(self.path)
        found = function.route(self.command, url.path)
        if found is None:
            if not self.answer_dev(url.path):
                self.answer_missing_route(function)
            return
        route, parameters = found
        with self.calls:
            request_id = str(uuid.uuid4())
            event = self.event(
                function, route, parameters, url.path, url.query, body, request_id
            )
            response = self.invoke(function, event, Context(function, request_id))
        if response is None:
            self.answer(502, JSON, FAILED)
            return
        headers = {k: [v] for k, v in (response.get("headers") or {}).items()}
        headers.update(response.get("multiValueHeaders") or {})
        data = response.get("body") or ""
        data = base64.b64decode(data) if response.get("isBase64Encoded") else data
        self.answer(response["statusCode"], headers, data)

    def invoke(self, function: Function, event: dict, context: Context) -> dict | None:
        """The handler's proxy response; None, reported, if it raised or returned
        something API Gateway rejects (it answers those with a 502)."""
        try:
            response = function.handler(event, context)
        except Exception:
            import traceback

            traceback.print_exc()
            return None
        body = response.get("body") if isinstance(response, dict) else None
        if not (
            isinstance(response, dict)
            and isinstance(response.get("statusCode"), int)
            and isinstance(body, (str, type(None)))
        ):
            returned = repr(response)[:300]
            print(
                "dev.py serve: the handler's answer is not a proxy response (a dict"
                f" with an int statusCode, a str body), so API Gateway answers 502:"
                f" {returned}",
                file=sys.stderr,
            )
            return None
        return response

    def read_body(self) -> bytes | None:
        """The request's body; None once a body that cannot be read is refused."""
        if "Transfer-Encoding" in self.headers:
            self.refuse(
                411, "Transfer-Encoding is not supported here: send Content-Length"
            )
            return None
        length = self.headers.get("Content-Length", "0").strip()
        if not length.isdigit():
            self.refuse(400, "Content-Length is not a number")
            return None
        if int(length) > MAX_BODY:
            self.refuse(413, "The body is larger than API Gateway's 10 MB")
            return None
        try:
            body = self.rfile.read(int(length))
        except OSError:  # the read timed out, or the connection broke
            self.refuse(408, f"The body did not arrive within {READ_TIMEOUT} s")
            return None
        if len(body) < int(length):
            self.refuse(400, "The body is shorter than its Content-Length")
            return None
        return body

    def event(
        self, function: Function, route, parameters, path, query, raw, request_id
    ) -> dict:
        headers, multi_headers = by_name(list(self.headers.items()))
        queries, multi_queries = by_name(parse_qsl(query, keep_blank_values=True))
        try:
            body, encoded = (raw.decode("utf-8"), False) if raw else (None, False)
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode("ascii"), True
        now = time.time()
        return {
            "resource": route.resource,
            "path": path,
            "httpMethod": self.command,
            "headers": headers,
            "multiValueHeaders": multi_headers,
            "queryStringParameters": queries,
            "multiValueQueryStringParameters": multi_queries,
            "pathParameters": parameters or None,
            "stageVariables": None,
            "requestContext": {
                "resourceId": "local",
                "resourcePath": route.resource,
                "httpMethod": self.command,
                "extendedRequestId": request_id,
                "requestTime": time.strftime(
                    "%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)
                ),
                "path": f"/{function.stage}{path}",
                "accountId": "123456789012",
                "protocol": self.request_version,
                "stage": function.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now * 1000),
                "requestId": request_id,
                "identity": {
                    "sourceIp": self.client_address[0],
                    "userAgent": self.headers.get("User-Agent"),
                },
                "domainName": self.headers.get("Host", "localhost"),
                "apiId": "local",
            },
            "body": body,
            "isBase64Encoded": encoded,
        }

    @classmethod
    def read_document(cls) -> str | None:
        """openapi.json as the routes served give it; None, reported, if it cannot
        be written. Under the handler's lock: Powertools reads its routes."""
        with cls.calls:
            if cls.document is None and cls.function is not None:
                try:
                    cls.document = document_of(cls.function)
                except NoDocument as error:
                    problem, advice = error.args
                    print(f"dev.py serve: {problem}: {advice}", file=sys.stderr)
                except Exception:
                    import traceback

                    traceback.print_exc()
            return cls.document

    def answer_dev(self, path: str) -> bool:
        """serve's own answers under DEV_PATH (the API's routes come first): the
        API's document, and Swagger UI; False for any other request."""
        if self.command not in ("GET", "HEAD") or not path.startswith(DEV_PATH):
            return False
        name = path[len(DEV_PATH) :]
        swagger = importlib.util.find_spec("swagger_ui")
        origin = swagger.origin if swagger else None
        files = Path(origin).parent / "static" if origin else None
        headers = {"X-Content-Type-Options": ["nosniff"], "Cache-Control": ["no-store"]}
        if name == DOCUMENT:
            document = self.read_document()
            if document is None:
                self.answer(500, JSON, b'{"message": "Not written (see serve)"}')
            else:
                self.answer(200, {**JSON, **headers}, document)
        elif name not in ("", "start.js", *SWAGGER_UI):
            return False
        elif files is None:
            missing = "Swagger UI is not installed (swagger-ui-py): run dev.py setup"
            self.answer(404, JSON, json.dumps({"message": missing}))
        elif name == "":
            document = self.read_document()
            title = json.loads(document)["info"]["title"] if document else "API"
            headers["Content-Security-Policy"] = [PAGE_POLICY]
            headers["Content-Type"] = ["text/html; charset=utf-8"]
            self.answer(200, headers, PAGE.format(title=html.escape(title)))
        elif name == "start.js":
            self.answer(200, {**headers, "Content-Type": ["text/javascript"]}, START)
        else:
            data = (files / name).read_bytes()
            self.answer(200, {**headers, "Content-Type": [SWAGGER_UI[name]]}, data)
        return True

    def answer_missing_route(self, function: Function) -> None:
        """What API Gateway answers a path or method no route declares: the API's
        MISSING_AUTHENTICATION_TOKEN gateway response, else its default 403."""
        response = function.missing_route
        headers = {"Content-Type": ["application/json"]}
        parameters = response.get("ResponseParameters", {}).get("Headers", {})
        for name, value in parameters.items():
            headers[name] = [value.strip("'")]  # quoted: 'nosniff'
        body = response.get("ResponseTemplates", {}).get(
            "application/json", '{"message":"Missing Authentication Token"}'
        )
        self.answer(int(response.get("StatusCode", 403)), headers, body)

    def send_error(self, code: int, message: str | None = None, explain=None) -> None:
        # http.server's own refusals (request line or headers too long, a bad
        # request line, an HTTP version it does not speak) as JSON, not its HTML.
        self.log_error("code %d, message %s", code, message)
        self.refuse(code, message or self.responses.get(code, ("Bad request",))[0])

    def refuse(self, status: int, message: str) -> None:
        """This server's own answer to a request it cannot pass on (API Gateway's
        exact answers there are not reproduced), closing the connection."""
        self.close_connection = True
        if self.request_version == "HTTP/0.9":  # an unreadable request line
            self.request_version = "HTTP/1.0"  # answered with a status and headers
        body = json.dumps({"message": message})
        self.answer(status, {**JSON, "Connection": ["close"]}, body)

    def answer(self, status: int, headers: dict[str, list[str]], body) -> None:
        data = body.encode("utf-8") if isinstance(body, str) else body
        self.send_response(status)
        for name, values in headers.items():
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)


def load_function() -> Function | None:
    """The function of template.yaml, imported; None after showing why not."""
    try:
        return Function(load_template())
    except Exception as error:  # the user's code or template: shown as it failed
        import traceback

        frames = error.__traceback__  # from the first that is not this script's
        while frames and frames.tb_frame.f_code.co_filename == __file__:
            frames = frames.tb_next
        traceback.print_exception(type(error), error, frames)
        return None


def stop_when_parent_does() -> None:
    """The reloader holds this process's standard input open: end of file means
    it stopped, however it ended, or wants a restart. (A signal could be ignored:
    a shell starts a background job with SIGINT ignored.)"""

    def watch() -> None:
        # Unbuffered: a thread blocked in sys.stdin's reader would hold its lock,
        # which Python takes again at exit (a fatal error after Ctrl-C).
        while os.read(sys.stdin.fileno(), 512):
            pass
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(0)

    threading.Thread(target=watch, daemon=True).start()


def serve_function() -> None:
    """The server process, in .venv: serves on the reloader's socket."""
    stop_when_parent_does()
    # The function's log and metric lines as they are written, even into a pipe.
    if isinstance(sys.stdout, io.TextIOWrapper):
        sys.stdout.reconfigure(line_buffering=True)
    listener = socket.fromfd(
        int(os.environ[SERVE_SOCKET]), socket.AF_INET, socket.SOCK_STREAM
    )
    Gateway.function = load_function()
    server = ThreadingHTTPServer(listener.getsockname(), Gateway, False)
    server.socket.close()
    server.socket = listener
    server.daemon_threads = True  # a stalled client never delays a restart
    address = "http://{}:{}".format(*listener.getsockname()[:2])
    if Gateway.function:
        routes = ", ".join(f"{r.method} {r.resource}" for r in Gateway.function.routes)
        print(f"{routes} at {address} (Ctrl-C stops)", flush=True)
        print(
            f"The API's OpenAPI document: {address}{DEV_PATH}{DOCUMENT}, to browse"
            f" and call the API: {address}{DEV_PATH}",
            flush=True,
        )
        threading.Thread(target=compare_document, daemon=True).start()
    else:
        print(
            "dev.py serve: the function did not load (above): requests to"
            f" {address} get 502 until a saved change fixes it",
            file=sys.stderr,
            flush=True,
        )
    try:
        server.serve_forever()
    finally:
        server.server_close()


def compare_document() -> None:
    """Say so when openapi.json is not the document of the routes served."""
    document = Gateway.read_document()
    if document is not None and document != committed_document():
        print(
            f"dev.py serve: {DOCUMENT} is not what these routes give: "
            f"`{this('openapi')}` writes it from them",
            file=sys.stderr,
            flush=True,
        )


def listen(port: int) -> socket.socket:
    """The listening socket, kept open across restarts: a request made while the
    function restarts waits instead of being refused."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if os.name != "nt":  # rebind at once after a stop; on Windows it would share
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        listener.bind((HOST, port))
    except OSError as error:
        listener.close()
        another = f"choose another port: `{this('serve')} --port {port + 1}`"
        in_use = (errno.EADDRINUSE, getattr(errno, "WSAEADDRINUSE", None))
        if error.errno in in_use:
            fail(
                f"port {port} is in use (another server, or serve already runs)",
                f"stop that server, or {another}",
            )
        fail(f"cannot listen on {HOST}:{port}: {error.strerror}", another)
    listener.listen(64)
    return listener


def snapshot() -> dict[str, tuple[int, int]]:
    """What serve restarts on: template.yaml, pyproject.toml (openapi.json's title,
    description, version) and the project's Python files (not
    in hidden folders such as .venv), with their modification times and sizes."""
    found = {}
    for folder, folders, files in os.walk(ROOT):
        folders[:] = [f for f in folders if f[0] != "." and f != "__pycache__"]
        for name in files:
            if name.endswith(".py") or (
                Path(folder) == ROOT and name in ("template.yaml", "pyproject.toml")
            ):
                path = Path(folder, name)
                try:
                    status = path.stat()
                except OSError:  # removed meanwhile: seen at the next look
                    continue
                found[shown(path)] = (status.st_mtime_ns, status.st_size)
    return found


def stop(server: subprocess.Popen) -> None:
    if server.poll() is None:
        if server.stdin is not None:  # stdin=PIPE: stop_when_parent_does reads it
            server.stdin.close()
        try:
            server.wait(timeout=5)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


def serve(arguments: argparse.Namespace) -> None:
    if SERVE_SOCKET in os.environ:
        serve_function()
        return
    require_setup(VENV)
    listener = listen(arguments.port)
    environment = {**os.environ, SERVE_SOCKET: str(listener.fileno())}
    if os.name == "nt":
        listener.set_inheritable(True)
        close_fds, pass_fds = False, ()
    else:
        close_fds, pass_fds = True, (listener.fileno(),)
    command = [executable(VENV, "python"), __file__, "serve"]
    files = snapshot()
    server = None
    try:
        while True:
            server = subprocess.Popen(
                command,
                stdin=subprocess.PIPE,
                env=environment,
                close_fds=close_fds,
                pass_fds=pass_fds,
            )
            reported = False
            current = files
            while current == files:
                if server.poll() is not None and not reported:
                    print(
                        f"dev.py serve: the server stopped (exit code "
                        f"{server.returncode}, above): saving a change starts it again",
                        file=sys.stderr,
                        flush=True,
                    )
                    reported = True
                time.sleep(0.3)
                current = snapshot()
            changed = [
                n for n in sorted({*files, *current}) if files.get(n) != current.get(n)
            ]
            files = current
            print(f"dev.py serve: {', '.join(changed)} changed: restarting", flush=True)
            stop(server)
    except KeyboardInterrupt:
        pass
    finally:
        if server is not None:
            stop(server)
        listener.close()


def port(text: str) -> int:
    number = int(text) if text.isdigit() else -1
    if not 0 <= number <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535)")
    return number


def main() -> None:
    global COMMAND
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("setup").set_defaults(run=setup)
    serving = commands.add_parser("serve")
    serving.add_argument(
        "--port", type=port, default=PORT, help=f"default {PORT}; 0: any free port"
    )
    serving.set_defaults(run=serve)
    commands.add_parser("check").set_defaults(run=check)
    commands.add_parser("openapi").set_defaults(run=openapi)
    arguments = parser.parse_args()
    COMMAND = f"dev.py {arguments.command}"
    try:
        arguments.run(arguments)
    except KeyboardInterrupt:
        if arguments.command == "setup":
            fail("interrupted", f"run `{this('setup')}` again to finish", 130)
        sys.exit(0 if arguments.command == "serve" else 130)


if __name__ == "__main__":
    main()
