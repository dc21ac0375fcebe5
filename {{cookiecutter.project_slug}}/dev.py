"""The project's three commands, the same on Linux, macOS and Windows:

    python3.X dev.py setup   .venv (the function, tests, linters), .venv-sam (the
                             SAM CLI), the git pre-commit hook; rerunnable
    python3.X dev.py serve   the API at http://127.0.0.1:3000 until Ctrl-C, without
                             Docker (below)
    python3.X dev.py check   what CI checks: ruff, unit tests, sam validate --lint,
                             sam build

Run it with the function's Python, the Runtime in template.yaml (on Windows
`py -3.X dev.py ...`): `sam build` needs it too. Standard library only; serve runs
again in .venv. `serve` calls the function's own handler in this process with
the events API Gateway (REST) would send it for the routes in template.yaml: the
path still percent-encoded, query strings and headers in both forms, a request
context, a Lambda context; other paths get the API's gateway response. Only the
function's environment variables from template.yaml are set: no AWS credentials,
{% if cookiecutter.tracing %}
no layer, no X-Ray (Powertools' Tracer is off outside Lambda).
{% else %}
no layer.
{% endif %}
"""

from __future__ import annotations

import argparse
import base64
import os
import re
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from urllib.parse import parse_qsl, urlsplit

ROOT = Path(__file__).resolve().parent
# The function's Python, as template.yaml declares it.
RUNTIME = tuple(
    int(part)
    for part in re.search(
        r"^ +Runtime: python(\d+)\.(\d+)$",
        (ROOT / "template.yaml").read_text(encoding="utf-8"),
        re.MULTILINE,
    ).groups()
)
# The function's requirements, the tests and linters (requirements-dev.txt).
VENV = ROOT / ".venv"
# The SAM CLI alone (requirements-sam.txt): it pins its own boto3 and click.
SAM_VENV = ROOT / ".venv-sam"
# What sam validate --lint checks: the CloudFormation templates at the top.
TEMPLATES = [
    path.name
    for path in sorted(ROOT.glob("*.yaml"))
    if "AWSTemplateFormatVersion" in path.read_text(encoding="utf-8")
]
ADDRESS = ("127.0.0.1", 3000)


def executable(venv: Path, name: str) -> Path:
    if os.name == "nt":
        return venv / "Scripts" / f"{name}.exe"
    return venv / "bin" / name


def run(*command: object, env: dict[str, str] | None = None) -> None:
    """Run a command in the project folder; stop with its exit code if it fails."""
    print("+", " ".join(str(c) for c in command), flush=True)
    code = subprocess.call([str(c) for c in command], cwd=ROOT, env=env)
    if code:
        sys.exit(code)


def require_runtime() -> None:
    if sys.version_info[:2] != RUNTIME:
        runtime = ".".join(map(str, RUNTIME))
        sys.exit(
            f"dev.py: run me with python{runtime}, the function's runtime in "
            f"template.yaml (this is Python {sys.version.split()[0]})"
        )


def make_venv(venv: Path, requirements: str) -> None:
    """A virtual environment of this Python with these pins: made again if it is
    missing or of another Python (the runtime changed), else brought up to date."""
    python = executable(venv, "python")
    same = python.exists() and not subprocess.call(
        [python, "-c", f"import sys; sys.exit(sys.version_info[:2] != {RUNTIME})"]
    )
    if not same:
        run(sys.executable, "-m", "venv", "--clear", venv)
    pip = ("-m", "pip", "install", "--quiet", "--disable-pip-version-check")
    run(python, *pip, "-r", requirements)


def setup(_: argparse.Namespace) -> None:
    require_runtime()
    make_venv(VENV, "requirements-dev.txt")
    make_venv(SAM_VENV, "requirements-sam.txt")
    if (ROOT / ".git").exists():
        run(executable(VENV, "pre-commit"), "install")
    else:
        print("Not a git repository: after `git init`, run setup again to install")
        print("the pre-commit hook (ruff, cfn-lint before each commit).")


def check(_: argparse.Namespace) -> None:
    require_runtime()
    python = executable(VENV, "python")
    run(python, "-m", "ruff", "check", ".")
    run(python, "-m", "ruff", "format", "--check", ".")
    run(python, "-m", "pytest", "tests/unit")
    env = dict(os.environ)
    env.setdefault("SAM_CLI_TELEMETRY", "0")
    # cfn-lint lints for one region: the AWS CLI's, else us-east-1.
    if not ({"AWS_REGION", "AWS_DEFAULT_REGION", "AWS_PROFILE"} & set(env)):
        env["AWS_DEFAULT_REGION"] = "us-east-1"
    # sam build looks for the runtime's python3.X on PATH: the one running this.
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]])
    sam = executable(SAM_VENV, "sam")
    for template in TEMPLATES:
        run(sam, "validate", "--lint", "--template", template, env=env)
    run(sam, "build", env=env)


# --- serve: API Gateway in front of the handler, in this process -------------------


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
            sys.exit(f"dev.py serve: one function with Api events, not {functions}")
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
        self.handler = getattr(__import__(module), handler)

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


class Gateway(BaseHTTPRequestHandler):
    function: Function

    def do_request(self) -> None:
        url = urlsplit(self.path)
        found = self.function.route(self.command, url.path)
        if found is None:
            self.answer_missing_route()
            return
        route, parameters = found
        request_id = str(uuid.uuid4())
        event = self.event(route, parameters, url.path, url.query, request_id)
        context = Context(self.function, request_id)
        try:
            response = self.function.handler(event, context)
        except Exception:  # API Gateway answers a failed invoke with a 502
            import traceback

            traceback.print_exc()
            body = b'{"message": "Internal server error"}'
            self.answer(502, {"Content-Type": ["application/json"]}, body)
            return
        headers = {k: [v] for k, v in (response.get("headers") or {}).items()}
        headers.update(response.get("multiValueHeaders") or {})
        body = response.get("body") or ""
        data = (
            base64.b64decode(body)
            if response.get("isBase64Encoded")
            else body.encode("utf-8")
        )
        self.answer(response["statusCode"], headers, data)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = do_request

    def event(self, route, parameters, path, query, request_id) -> dict:
        headers, multi_headers = by_name(list(self.headers.items()))
        queries, multi_queries = by_name(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else None
        try:
            body, encoded = (raw.decode("utf-8"), False) if raw else (None, False)
        except UnicodeDecodeError:
            body, encoded = base64.b64encode(raw).decode("ascii"), True
        now = datetime.now(UTC)
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
                "requestTime": now.strftime("%d/%b/%Y:%H:%M:%S +0000"),
                "path": f"/{self.function.stage}{path}",
                "accountId": "123456789012",
                "protocol": self.request_version,
                "stage": self.function.stage,
                "domainPrefix": "localhost",
                "requestTimeEpoch": int(now.timestamp() * 1000),
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

    def answer_missing_route(self) -> None:
        """What API Gateway answers a path or method no route declares: the API's
        MISSING_AUTHENTICATION_TOKEN gateway response, else its default 403."""
        response = self.function.missing_route
        headers = {"Content-Type": ["application/json"]}
        parameters = response.get("ResponseParameters", {}).get("Headers", {})
        for name, value in parameters.items():
            headers[name] = [value.strip("'")]  # quoted: 'nosniff'
        body = response.get("ResponseTemplates", {}).get(
            "application/json", '{"message":"Missing Authentication Token"}'
        )
        self.answer(int(response.get("StatusCode", 403)), headers, body.encode())

    def answer(self, status: int, headers: dict[str, list[str]], body: bytes) -> None:
        self.send_response(status)
        for name, values in headers.items():
            for value in values:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)


def serve(arguments: argparse.Namespace) -> None:
    python = executable(VENV, "python")
    if Path(sys.prefix).resolve() != VENV.resolve():
        if not python.exists():
            sys.exit("dev.py: no .venv yet: run `dev.py setup` first")
        if os.name != "nt":  # the same process: Ctrl-C and signals reach the server
            os.execv(python, [str(python), __file__, "serve"])
        try:
            sys.exit(subprocess.call([python, __file__, "serve"]))
        except KeyboardInterrupt:
            sys.exit(0)
    # The function's log and metric lines as they are written, even into a pipe.
    sys.stdout.reconfigure(line_buffering=True)
    Gateway.function = Function(load_template())
    server = HTTPServer(ADDRESS, Gateway)
    routes = ", ".join(f"{r.method} {r.resource}" for r in Gateway.function.routes)
    print(f"{routes} at http://{ADDRESS[0]}:{ADDRESS[1]} (Ctrl-C stops)", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(required=True)
    for command in (setup, serve, check):
        commands.add_parser(command.__name__).set_defaults(command=command)
    arguments = parser.parse_args()
    arguments.command(arguments)


if __name__ == "__main__":
    main()
