"""What the tests share, in one module (fixtures are in conftest.py): processes and
tools, work done once per run for every pytest-xdist worker (once, SharedResults),
the renders (pytest-cookies, once per set of answers) and what reads them, the
hooks imported as modules, the linters run in batches, the generated projects'
environments, and the built function's `sam build`, layer and events.

Renderings are read-only: a test that writes in a project copies it first
(working_copy).
"""

from __future__ import annotations

import functools
import hashlib
import http.client
import importlib.util
import json
import os
import platform
import re
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from urllib.parse import urlsplit

import pytest
import samcli.yamlhelper as samcli_yaml
import yaml
from filelock import FileLock, Timeout
from pytest_cookies.plugin import Result

from matrix import COOKIECUTTER_JSON, DEFAULTS, POWERTOOLS_VERSION, ROOT, combination_id

CACHE = ROOT / ".cache"
# The region the tests lint, validate and run the function for (`sam validate
# --lint` needs one).
REGION = "us-east-1"
FUNCTION = "HelloWorldFunction"
# Tools whose pins clash with aws-sam-cli's live in a venv each under .cache/tools/,
# installed by noxfile.py (session full) from the exact pins in .ci/tools.txt.
TOOL_PINS = dict(
    line.strip().split("==")
    for line in (ROOT / ".ci" / "tools.txt").read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#")
)


# --- processes ---


def run(command: list[str], **kwargs) -> subprocess.CompletedProcess:
    kwargs.setdefault("capture_output", True)
    kwargs.setdefault("text", True)
    return subprocess.run(command, check=False, **kwargs)


def python_m(module: str, *args: str, **kwargs) -> subprocess.CompletedProcess:
    """`python -m module args` with the Python running the tests (the pinned tools
    installed beside it, whichever interpreter their console scripts name); it
    must succeed."""
    result = run([sys.executable, "-m", module, *args], **kwargs)
    assert result.returncode == 0, result.stdout + result.stderr
    return result


def tool(name: str) -> str:
    """A console script installed beside the Python running the tests."""
    path = Path(sys.executable).parent / name
    return str(path) if path.exists() else shutil.which(name) or name


def clean_environment() -> dict[str, str]:
    """The environment a user's shell has: none of ours that changes the app."""
    return {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("POWERTOOLS_", "AWS_", "LAMBDA_", "PYTEST_", "PYTHON"))
    }


# How to install them alone; every nox session that runs tests installs them.
INSTALL_TOOLS = ".venv/bin/nox -s tools"
# The reason a test skips for a missing tool (conftest.py counts them at the end).
MISSING_TOOL = re.compile(r"(?P<tool>[\w-]+) not installed in \S+: ")


def isolated_tool(name: str, command: str | None = None) -> str:
    """The executable `command` (by default the name) of the pinned tool `name`
    (.ci/tools.txt); fails in CI (CI set), skips locally, if absent."""
    executable = CACHE / "tools" / name / "bin" / (command or name)
    if not executable.exists():
        reason = (
            f"{name} not installed in {executable.parent.parent}: "
            f"{INSTALL_TOOLS} installs it"
        )
        assert MISSING_TOOL.match(reason)
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    version = run([str(executable), "--version"])
    assert TOOL_PINS[name] in version.stdout, (version.stdout, TOOL_PINS[name])
    return str(executable)


# --- work shared between the processes of a run (pytest-xdist workers) and, for
# directories under .cache/, between runs: each unit is done once, by whichever
# process gets to it first; the others wait for it or do other units meanwhile.
# once() makes a directory (or file) under a lock beside it, a marker written
# last, so a half-made one left by an interrupted run is made again, never used.


Make = Callable[[Path], None]


def worker_count() -> int:
    """How many processes run this run's tests (pytest-xdist workers, or one)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def run_directory(tmp_path_factory) -> Path:
    """The pytest-xdist recipe: workers' base temporary directories share a parent
    that is new for each run; without xdist, the run's own base directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".done")


def _lock(target: Path) -> FileLock:
    return FileLock(target.with_name(target.name + ".lock"))


def _complete(target: Path, stamp: str) -> bool:
    marker = _marker(target)
    return marker.exists() and marker.read_text(encoding="utf-8") == stamp


def _make_unless_complete(target: Path, make: Make, stamp: str) -> None:
    """Under the target's lock: make it unless complete."""
    if _complete(target, stamp):
        return
    _marker(target).unlink(missing_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    make(target)
    _marker(target).write_text(stamp, encoding="utf-8")


def once(target: Path, make: Make, stamp: str = "") -> Path:
    """`target`, made by make(target) unless a complete one made with this stamp
    (e.g. the pins it was installed from) exists. Concurrent callers wait for the
    one making it."""
    if not _complete(target, stamp):
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock(target):
            _make_unless_complete(target, make, stamp)
    return target


def once_each(jobs: Iterable[tuple[Path, Make]], stamp: str = "") -> None:
    """Make every target once, sharing the work with any other process doing the
    same: a target whose lock is taken is skipped, then waited for at the end."""
    busy = []
    for target, make in jobs:
        if _complete(target, stamp):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(target)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            busy.append((target, make))
            continue
        try:
            _make_unless_complete(target, make, stamp)
        finally:
            lock.release()
    for target, make in busy:
        once(target, make, stamp)


def digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def file_digest(path: Path) -> str:
    return digest(path.read_bytes())


class SharedResults:
    """A check's results, one JSON file per distinct content checked (key(path):
    by default the digest of the file's bytes) in a directory the run's workers
    share: each distinct content is checked once in the run.

    compute({key: path, ...}) -> {key: result} checks many at a time (a tool's
    start-up is paid once per call). prefetch(paths) splits a batch into chunks
    the workers share out; results(path) of content nobody checked yet checks it
    alone.
    """

    def __init__(
        self,
        directory: Path,
        compute: Callable[[dict[str, Path]], dict[str, object]],
        key: Callable[[Path], str] = file_digest,
        chunks: int = 8,
        smallest: int = 32,
    ):
        self.directory = directory
        self.compute = compute
        self.key = key
        self.chunks = chunks
        self.smallest = smallest

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _compute(self, items: dict[str, Path]) -> None:
        missing = {k: v for k, v in items.items() if not self._file(k).exists()}
        if not missing:
            return
        results = self.compute(missing)
        assert sorted(results) == sorted(missing), "results for other keys"
        self.directory.mkdir(parents=True, exist_ok=True)
        for key, result in results.items():
            # Written aside, then renamed: a reader sees a whole file or none.
            partial = self.directory / f".{key}.{os.getpid()}"
            partial.write_text(json.dumps(result), encoding="utf-8")
            os.replace(partial, self._file(key))

    def prefetch(self, paths: Iterable[Path]) -> None:
        items: dict[str, Path] = {}
        for path in paths:
            items.setdefault(self.key(path), path)
        keys = sorted(items)
        size = max(self.smallest, -(-len(keys) // self.chunks))
        parts = [keys[i : i + size] for i in range(0, len(keys), size)]

        def job(part: list[str]) -> tuple[Path, Make]:
            def make(marker: Path) -> None:
                self._compute({k: items[k] for k in part})
                marker.write_text("", encoding="utf-8")

            return self.directory / f"chunk-{digest(chr(10).join(part))}", make

        once_each(job(part) for part in parts)

    def __call__(self, path: Path):
        key = self.key(path)
        if not self._file(key).exists():
            self._compute({key: path})
        return json.loads(self._file(key).read_text(encoding="utf-8"))


# --- renders ---


@dataclass(frozen=True)
class Rendering:
    """One distinct content of a generated file, and the combinations giving it."""

    digest: str
    path: Path  # the file in the first combination's project
    combinations: tuple[dict, ...]


# pytest-cookies renders (cookies_session.bake, with its isolated user config).
# This layer adds what the plugin cannot do: bake() renders anew on every call, into
# a directory of one pytest-xdist worker that the plugin deletes when that worker's
# session ends, while the suite reads every combination from many test
# modules in every worker. So each set of answers is baked once per run by whichever
# worker comes first (once), its project moved out to a directory all workers share,
# and renderings are grouped by file content (distinct) so that an expensive check
# runs once per distinct file.
def cache_compiled_templates() -> None:
    """Make cookiecutter's environment (utils.create_env_with_context) keep what
    Jinja compiles for the rest of this process: each file, file name, answer and
    hook script of the template is compiled once per process, not once per render
    (half of an uncached render's time). The key is the source with every setting
    of the environment that changes what it compiles to (Jinja's lexer is cached by
    its settings), so a changed file is compiled again; test_generation checks that
    a render made this way is byte for byte the cookiecutter CLI's."""
    import cookiecutter.utils

    strict = cookiecutter.utils.StrictEnvironment
    if hasattr(strict, "compiled"):
        return

    class CachingEnvironment(strict):
        compiled: dict[tuple, object] = {}

        def compile(
            self, source, name=None, filename=None, raw=False, defer_init=False
        ):
            if raw or not isinstance(source, str):
                return super().compile(source, name, filename, raw, defer_init)
            key = (
                source,
                name,
                filename,
                defer_init,
                self.lexer,
                tuple(self.extensions),
                self.optimized,
                self.is_async,
                self.finalize,
            )
            if key not in self.compiled:
                self.compiled[key] = super().compile(
                    source, name, filename, False, defer_init
                )
            return self.compiled[key]

    cookiecutter.utils.StrictEnvironment = CachingEnvironment


@contextmanager
def hook_scripts_in(directory: Path) -> Iterator[None]:
    """Cookiecutter writes each hook, rendered, to a temporary file it never
    deletes (hooks.run_script_with_context: delete=False). Here they go to a
    directory of this process, emptied after each render. In the system's
    temporary directory they cost more than disk: a hook runs with its own
    directory first on sys.path, so each import lists that directory (a hook took
    60 ms instead of 22 once /tmp held 60,000 of them)."""
    directory.mkdir(parents=True, exist_ok=True)
    saved, tempfile.tempdir = tempfile.tempdir, str(directory)
    try:
        yield
    finally:
        tempfile.tempdir = saved
        for script in directory.iterdir():
            script.unlink()


class Renders:
    """Renders into `directory` (shared by the run's workers), one subdirectory per
    set of answers. Calling it with answers returns pytest-cookies' Result for
    them (exit_code, exception, project_path, context); an exception raised in
    another worker comes back as its text."""

    def __init__(self, cookies, directory: Path):
        self.cookies = cookies  # the worker's cookies_session
        self.directory = directory

    def _target(self, answers: dict) -> Path:
        unknown = set(answers) - set(COOKIECUTTER_JSON)
        # Cookiecutter silently ignores unknown keys: a typo would test the defaults.
        assert not unknown, f"not in cookiecutter.json: {sorted(unknown)}"
        return self.directory / digest(json.dumps(answers, sort_keys=True))

    def _make(self, answers: dict) -> Make:
        def make(target: Path) -> None:
            scripts = self.directory / f".hook-scripts-{os.getpid()}"
            with hook_scripts_in(scripts):
                result = self.cookies.bake(
                    extra_context=dict(answers), template=str(ROOT)
                )
            target.mkdir(parents=True)
            error = result.exception
            outcome = {
                "exit_code": result.exit_code,
                "exception": None
                if error is None
                else f"{type(error).__name__}: {error}",
                "context": result.context,
            }
            if error is None:
                shutil.move(result.project_path, target / result.project_path.name)
            (target / "result.json").write_text(json.dumps(outcome), encoding="utf-8")

        return make

    def _result(self, target: Path) -> Result:
        outcome = json.loads((target / "result.json").read_text(encoding="utf-8"))
        projects = [p for p in target.iterdir() if p.is_dir()]
        return Result(
            exception=outcome["exception"],
            exit_code=outcome["exit_code"],
            project_dir=projects[0] if projects else None,
            context=outcome["context"],
        )

    def __call__(self, answers: dict) -> Result:
        return self._result(once(self._target(answers), self._make(answers)))

    def render_all(self, combinations: Iterable[dict]) -> list[Result]:
        """Every combination rendered, the work shared with the other workers."""
        combinations = list(combinations)
        targets = [self._target(answers) for answers in combinations]
        once_each(
            (target, self._make(answers))
            for target, answers in zip(targets, combinations, strict=True)
        )
        return [self._result(target) for target in targets]

    def distinct(self, relative: str, combinations: Iterable[dict]) -> list[Rendering]:
        """The distinct contents of the generated file `relative` (a path inside the
        project) over these combinations, each with the combinations that give it,
        in the order first met. Combinations without the file are left out; a
        combination that fails to render fails here."""
        combinations = list(combinations)
        groups: dict[str, list[dict]] = {}
        paths: dict[str, Path] = {}
        for answers, bake in zip(
            combinations, self.render_all(combinations), strict=True
        ):
            assert bake.exception is None, (answers, bake.exception)
            path = bake.project_path / relative
            if not path.is_file():
                continue
            key = digest(path.read_bytes())
            groups.setdefault(key, []).append(answers)
            paths.setdefault(key, path)
        return [Rendering(key, paths[key], tuple(groups[key])) for key in groups]


def baked_project(bake, answers: dict) -> Path:
    """The shared, pristine rendering of these answers: read it, never write to it
    (tests that run tools in a project use working_copy)."""
    result = bake(answers)
    assert result.exception is None, result.exception
    assert result.exit_code == 0
    return Path(result.project_path)


def working_copy(bake, answers: dict, destination: Path) -> Path:
    """A private copy of the rendering, for tests that build, test or write in it."""
    source = baked_project(bake, answers)
    return Path(shutil.copytree(source, destination / source.name))


def session_answers(request, fixture: str) -> list[dict]:
    """The answers of every test selected in this run that uses `fixture`, in
    order, without repeats: what a session fixture batching one check over many
    renderings has to cover. (Each pytest-xdist worker sees the whole selection.)"""
    found: dict[str, dict] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if "answers" in params and fixture in item.fixturenames:
            found.setdefault(
                json.dumps(params["answers"], sort_keys=True), params["answers"]
            )
    return list(found.values())


def tree(
    project: Path, parts: Iterable[str] = (".",), ignore: tuple[str, ...] = ()
) -> dict[str, tuple[bytes, bool]]:
    """Every file under these parts of the project (all of it by default) but those
    under `ignore`: its contents and whether it is executable."""
    return {
        path.relative_to(project).as_posix(): (
            path.read_bytes(),
            os.access(path, os.X_OK),
        )
        for part in parts
        for path in sorted([project / part, *(project / part).rglob("*")])
        if path.is_file() and path.relative_to(project).parts[0] not in ignore
    }


# The files that make the template; everything else in the checkout is tooling.
TEMPLATE_PARTS = [
    "cookiecutter.json",
    "hooks",
    "templates",
    "{{cookiecutter.project_slug}}",
]


def copy_template(destination: Path) -> Path:
    """The template's own files (TEMPLATE_PARTS), copied into a new directory: what
    a git repository of the template holds (cruft and `--checkout` need one)."""
    destination.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    return destination


# --- the hooks, imported as modules: unrendered, their ANSWERS_JSON is a
# placeholder and main() does not run on import; tests call their functions with
# explicit answers.


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")


# --- reading and checking what was rendered ---


class CloudFormationLoader(yaml.CSafeLoader):
    """What SAM CLI's yaml_parse reads a template with (its constructors: short
    forms such as !Ref as CloudFormation's long ones, mappings as OrderedDict) on
    libyaml's parser instead of PyYAML's pure-Python one: ten times faster, for the
    tests that read every combination's templates.
    test_fast_yaml_reads_as_sam_cli checks the two give the same documents."""


CloudFormationLoader.add_constructor(
    yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, samcli_yaml._dict_constructor
)
CloudFormationLoader.add_multi_constructor(
    "!", samcli_yaml.intrinsics_multi_constructor
)


def load_cfn(path: Path) -> dict:
    """A CloudFormation or SAM template, as SAM CLI reads it."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=CloudFormationLoader)  # noqa: S506


def load_yaml(path: Path):
    """A YAML file, as yaml.safe_load reads it (libyaml's parser)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)  # noqa: S506


def load_workflow(path: Path) -> dict:
    """A GitHub Actions workflow file."""
    workflow = load_yaml(path)
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as True
    return workflow


@functools.cache
def cfn_lint_runner():
    """cfn-lint's runner as `sam validate --lint` configures it (the region only),
    made once per process: SAM CLI's cfnlint.api.lint call makes one per template,
    which loads every rule again."""
    from cfnlint.config import ConfigMixIn, ManualArgs
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=[REGION])))


def cfn_lint_templates(templates: dict[str, Path]) -> dict[str, list[str]]:
    """What `sam validate --lint` reports for each template (cfnlint.api.lint's
    steps: decode, then validate), keyed like `templates`."""
    from cfnlint.decode.decode import decode_str

    findings = {}
    for key, path in templates.items():
        template, errors = decode_str(path.read_text(encoding="utf-8"))
        if not errors and template is not None:
            errors = cfn_lint_runner().validate_template(template)
        findings[key] = [str(match) for match in errors or []]
    return findings


def checkov(templates: dict[str, Path]) -> dict[str, dict[str, list[dict]]]:
    """checkov's failed, skipped and passed checks for each template, one process
    for all of them; keyed like `templates`."""
    owners = {path.resolve(): key for key, path in templates.items()}
    scanned = run(
        [
            isolated_tool("checkov"),
            # Offline: no guideline download, no upload, no network at all.
            "--skip-download",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            "--file",
            *sorted(map(str, templates.values())),
        ]
    )
    # Exit 1 means failed checks: they are reported per template below.
    assert scanned.returncode in (0, 1), scanned.stdout[-2000:] + scanned.stderr
    reports = json.loads(scanned.stdout)
    results = {
        key: {"failed_checks": [], "skipped_checks": [], "passed_checks": []}
        for key in templates
    }
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["check_type"] == "cloudformation"
        assert report["results"]["parsing_errors"] == []
        for outcome in ("failed_checks", "skipped_checks", "passed_checks"):
            for check in report["results"][outcome]:
                key = owners[Path(check["file_abs_path"]).resolve()]
                results[key][outcome].append(check)
    return results


def assert_nothing_unjustified(result: dict[str, list[dict]]) -> None:
    """checkov scanned something, failed nothing, and every skip says why."""
    assert result["passed_checks"], "checkov scanned nothing"
    assert [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in result["failed_checks"]
    ] == []
    for check in result["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20, f"{check['check_id']} is skipped without a reason"


def transformed(template: Path) -> dict:
    """template.yaml as CloudFormation, after the SAM transform (no AWS calls)."""
    from samtranslator.translator.transform import transform

    document = load_cfn(template)
    # The transform wants deployed code: any S3 URI will do.
    function = document["Resources"]["HelloWorldFunction"]["Properties"]
    function["CodeUri"] = "s3://bucket/code.zip"

    class NoManagedPolicyLookups:
        def load(self):
            raise AssertionError("the template names no managed policy to look up")

    return transform(document, {}, NoManagedPolicyLookups())


def policy_actions(node) -> list[str]:
    """Every IAM Action anywhere in a CloudFormation document."""
    if isinstance(node, dict):
        found = []
        for key, value in node.items():
            if key in ("Action", "NotAction"):
                found.extend([value] if isinstance(value, str) else value)
            else:
                found.extend(policy_actions(value))
        return found
    if isinstance(node, list):
        return [action for item in node for action in policy_actions(item)]
    return []


# --- the generated projects' own environments and interpreters ---


def requirement_lines(path: Path) -> list[str]:
    """Non-comment lines of a requirements file, with -r files expanded."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            lines.extend(requirement_lines(path.parent / line[3:].strip()))
        else:
            lines.append(line)
    return lines


class ProjectEnvironments:
    """One virtual environment per distinct set of generated dev requirements,
    shared by every bake that needs it and kept in .cache/ between runs (made once
    under a lock: pytest-xdist workers and concurrent runs wait for each other)."""

    def __init__(self, root: Path):
        self.root = root

    def python_for(self, project: Path) -> Path:
        requirements = sorted(requirement_lines(project / "requirements-dev.txt"))
        env = self.root / digest("\n".join(requirements))

        def make(env: Path) -> None:
            uv_install(env, requirements)

        once(env, make, stamp="\n".join(requirements))
        return env / "bin" / "python"


def uv_install(env: Path, requirements: list[str]) -> None:
    """A new virtual environment for the Python running the tests, with exactly
    these requirements, through uv (bytecode compiled: each is imported by many
    test processes)."""
    for command in (
        ["venv", "--quiet", "--python", sys.executable, str(env)],
        ["pip", "install", "--quiet", "--compile-bytecode"]
        + ["--python", str(env / "bin" / "python"), *requirements],
    ):
        done = run([tool("uv"), *command])
        assert done.returncode == 0, done.stderr


@functools.cache
def interpreter_on_path(runtime: str) -> str | None:
    """The first working `pythonX.Y` on PATH, searched the way sam build does, as
    its own executable (a pyenv shim runs only with the caller's PATH, and a
    version it does not enable exists but fails to run)."""
    name = runtime  # "python3.13"
    for directory in os.environ.get("PATH", "").split(os.pathsep):
        candidate = Path(directory or ".") / name
        if not (candidate.is_file() and os.access(candidate, os.X_OK)):
            continue
        probe = run(
            [
                str(candidate),
                "-c",
                "import sys; print('%d.%d' % sys.version_info[:2], sys.executable)",
            ]
        )
        version, _, executable = probe.stdout.strip().partition(" ")
        if probe.returncode == 0 and version == name[len("python") :]:
            return executable
    return None


def require_interpreter(runtime: str) -> str:
    python = interpreter_on_path(runtime)
    if python is None:
        pytest.skip(f"{runtime} interpreter not on this machine (not found on PATH)")
    return python


# Pip matches a dependency's extras to a hash-pinned requirement from 23.3 on (pip
# PR #12095): the Quick start must work with the older ones that Python 3.11.0-3.11.7
# and 3.12.0-3.12.1 bundle.
FIXED_PIP = (23, 3)


@functools.cache
def stock_python() -> tuple[str, str, str] | None:
    """(runtime, its python, the pip it bundles): the first python3.11 or python3.12
    on PATH that is an installed Python, not a virtual environment, whose bundled
    pip is older than FIXED_PIP; None if there is none."""
    probe = "import sys, pip; print(sys.prefix == sys.base_prefix, pip.__version__)"
    for runtime in ("python3.11", "python3.12"):
        python = interpreter_on_path(runtime)
        if python is None:
            continue
        found = run([python, "-c", probe], env=clean_environment())
        installed, _, version = found.stdout.strip().partition(" ")
        numbers = tuple(int(part) for part in version.split(".")[:2] if part.isdigit())
        if installed == "True" and numbers < FIXED_PIP:
            return runtime, python, version
    return None


def user_shell(python: str) -> dict[str, str]:
    """A user's shell with the runtime's Python first on PATH."""
    env = clean_environment()
    env["PATH"] = os.pathsep.join([str(Path(python).parent), env["PATH"]])
    env["SAM_CLI_TELEMETRY"] = "0"
    return env


def shared_environments(project: Path, python: str) -> None:
    """.venv and .venv-sam made with uv (seeded with pip, as `python -m venv` makes
    them) once per distinct Python and pins, kept in .cache/ and linked into the
    project: its own `dev.py setup` then finds them and completes them, as on a
    rerun."""
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


def runner_environment(
    project: Path, packages: Path | None = None, name: str = ".venv"
) -> None:
    """The fast loop's stand-in for `dev.py setup` (the slow tests run the real one):
    the project's .venv (or .venv-sam) a new virtual environment that sees the
    packages of `packages`, a site-packages folder of this Python (by default the
    tests': serve needs PyYAML, and the app no more when it imports nothing else),
    marked complete by the project's own dev.py."""
    venv = project / name
    made = run([sys.executable, "-m", "venv", "--without-pip", str(venv)])
    assert made.returncode == 0, made.stderr
    (site,) = venv.glob("lib/python*/site-packages")
    seen = packages or Path(sysconfig.get_paths()["purelib"])
    (site / "runner.pth").write_text(f"{seen}\n")
    constant = {".venv": "VENV", ".venv-sam": "SAM_VENV"}[name]
    marked = run(
        [sys.executable, "-c", f"import dev; dev.mark_set_up(dev.{constant})"],
        cwd=project,
    )
    assert marked.returncode == 0, marked.stderr


# A route /bye as README's "To add a route" declares it in template.yaml.
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
        return tuple(f.read_text(encoding="utf-8") for f in self.files)

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
        self.returncode = self.process.wait(timeout=30)
        self.stdout, self.stderr = self.output()

    def __enter__(self) -> DevServer:
        return self

    def __exit__(self, *_) -> None:
        self.stop()


# --- the built function: one `sam build` per combination per run, the layer
# stand-in, the function's environment from template.yaml, and events made by
# `sam local generate-event` ---


def sam_environment() -> dict[str, str]:
    return {**clean_environment(), "SAM_CLI_TELEMETRY": "0"}


class SamBuilds:
    """Each combination copied out of its rendering (sam build writes into the
    project) and built with plain `sam build`, as a user would: once per run, the
    build shared by every pytest-xdist worker (once). Builds are read-only
    for the tests: a harness that imports from one writes its bytecode elsewhere."""

    def __init__(self, bake, directory: Path):
        self._bake = bake
        self._directory = directory

    def __call__(self, answers: dict) -> Path:
        require_interpreter(answers["runtime"])
        target = self._directory / combination_id(answers)

        def build(target: Path) -> None:
            project = target / "project"
            shutil.copytree(baked_project(self._bake, answers), project)
            built = run([tool("sam"), "build"], cwd=project, env=sam_environment())
            outcome = {"returncode": built.returncode, "stdout": built.stdout}
            outcome["output"] = built.stdout + built.stderr
            (target / "build.json").write_text(json.dumps(outcome), encoding="utf-8")

        built = json.loads((once(target, build) / "build.json").read_text("utf-8"))
        assert built["returncode"] == 0, built["output"]
        assert "Build Succeeded" in built["stdout"]
        return target / "project" / ".aws-sam" / "build" / FUNCTION


def pip_install(
    python: str, target: Path, requirements: list[str], compile: bool = False
) -> None:
    installed = run(
        [
            python,
            "-m",
            "pip",
            "install",
            "--quiet",
            "--disable-pip-version-check",
            "--compile" if compile else "--no-compile",
            "--target",
            str(target),
            *requirements,
        ],
        env=clean_environment(),
    )
    assert installed.returncode == 0, installed.stderr


@functools.cache
def layer_stand_in(runtime: str) -> Path:
    """The layer's content for the local interpreter: the same Powertools version
    with [tracer], installed once into .cache/ (kept between runs)."""
    python = require_interpreter(runtime)
    name = f"{POWERTOOLS_VERSION}-{runtime}-{platform.machine()}"
    return once(
        CACHE / "powertools-layer" / name,
        lambda target: pip_install(
            python, target, [f"aws-lambda-powertools[tracer]=={POWERTOOLS_VERSION}"]
        ),
    )


def function_properties(template: Path) -> dict:
    """The function's Properties in the rendered template.yaml."""
    parsed = load_cfn(template)
    return parsed["Resources"][FUNCTION]["Properties"]


def environment_variables(properties: dict) -> dict[str, str]:
    """The Lambda environment variables of the function's Properties."""
    return {k: str(v) for k, v in properties["Environment"]["Variables"].items()}


@functools.cache
def _generated_event(*arguments: str) -> str:
    result = run(
        [tool("sam"), "local", "generate-event", *arguments], env=sam_environment()
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def sam_event(*arguments: str) -> dict:
    """`sam local generate-event ARGUMENTS`, run once per session per arguments;
    a fresh copy for every caller."""
    return json.loads(_generated_event(*arguments))


def generate_event(path: str, resource: str | None = None) -> dict:
    arguments = ["apigateway", "aws-proxy", "--method", "GET"]
    arguments += ["--path", path.lstrip("/"), "--body", ""]
    if resource:
        arguments += ["--resource", resource]
    return sam_event(*arguments)


def api_event(
    path: str, resource: str | None = None, path_parameters: dict | None = None
) -> dict:
    """A GET event as API Gateway REST sends it for this path, from the generator,
    corrected where the generator's defaults differ from what API Gateway sends
    for these routes (the resolver routes on `path`)."""
    event = generate_event(path, resource)
    if resource:
        event["pathParameters"] = path_parameters
    # An empty GET body is not base64 on the wire.
    event["isBase64Encoded"] = False
    assert event["httpMethod"] == "GET"
    assert event["path"] == path
    return event
