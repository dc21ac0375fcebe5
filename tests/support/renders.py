"""The renders: pytest-cookies' bakes made once per set of answers for the whole run
(Renders, behind conftest.py's `bake` fixture), cookiecutter's compiled templates
kept between renders, the hook scripts' directory, and what reads a rendering.

Renderings are read-only: a test that writes in a project copies it first
(working_copy)."""

from __future__ import annotations

import io
import json
import os
import runpy
import shutil
import signal
import sys
import tempfile
import traceback
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.generate import is_binary
from cookiecutter.hooks import run_script as cookiecutter_run_script
from pytest_cookies.plugin import Result

from matrix import COOKIECUTTER_JSON, ROOT, combination_id, full_matrix, quick_matrix
from support.shared import Make, digest, once, once_each

# A check over many combinations runs as one test per scope: the quick subset in the
# fast loop, the full matrix in the slow run (matrix.py), once per group of
# combinations alike for what it reads (Renders.alike).
SCOPES = ["quick", pytest.param("full", marks=pytest.mark.slow)]


def scope_matrix(scope: str) -> list[dict]:
    return quick_matrix() if scope == "quick" else full_matrix()


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

    # A subclass in the class's place, for every later render of this process.
    cookiecutter.utils.StrictEnvironment = CachingEnvironment  # ty: ignore[invalid-assignment]


@contextmanager
def hooks_in_process(directory: Path) -> Generator[None]:
    """For the renders made inside: each rendered Python hook runs in this process
    instead of a new one, as cookiecutter runs it (hooks.run_script: `sys.executable
    script` in the project's directory; a non-zero exit status raises
    FailedHookException with its message), and each template file's binary-or-text
    verdict (binaryornot's is_binary, which reads the file; cookiecutter/cookiecutter
    cookiecutter/generate.py) is kept while the file is unchanged. The hooks use
    only the standard library, already imported here, and a run renders about 1,800
    times, two hooks each: starting Python for each was most of a render's time.
    test_renders checks that a render made this way is byte for byte the
    cookiecutter CLI's (whose hooks run as processes, without this suite's
    sys.path), and that a hook's outcome is the one cookiecutter gives.

    Cookiecutter writes each rendered hook to a temporary file it never deletes
    (hooks.run_script_with_context: delete=False); here they go to `directory`,
    emptied after each render."""
    import cookiecutter.generate
    import cookiecutter.hooks

    directory.mkdir(parents=True, exist_ok=True)
    saved = (
        tempfile.tempdir,
        cookiecutter.hooks.run_script,
        cookiecutter.generate.is_binary,
    )
    tempfile.tempdir = str(directory)
    # Functions in the functions' places, while the renders inside are made.
    cookiecutter.hooks.run_script = run_script_in_process  # ty: ignore[invalid-assignment]
    cookiecutter.generate.is_binary = is_binary_while_unchanged  # ty: ignore[invalid-assignment]
    try:
        yield
    finally:
        (
            tempfile.tempdir,
            cookiecutter.hooks.run_script,
            cookiecutter.generate.is_binary,
        ) = saved
        for script in directory.iterdir():
            script.unlink()


def run_script_in_process(script_path: str, cwd: Path | str = ".") -> None:
    """cookiecutter.hooks.run_script for a Python hook, in this process: run as
    __main__ in `cwd`, its exit status as a process's would be (SystemExit's code
    modulo 256, 1 for an uncaught exception, whose traceback goes to stderr, -2 for
    KeyboardInterrupt, the signal it stands for); the working directory, sys.path,
    sys.argv, os.environ, the modules imported and stderr's error handler are put
    back after it."""
    if not script_path.endswith(".py"):
        return cookiecutter_run_script(script_path, cwd)
    saved = os.getcwd(), sys.path[:], sys.argv, dict(os.environ), set(sys.modules)
    errors = getattr(sys.stderr, "errors", None)
    os.chdir(cwd)
    sys.path.insert(0, str(Path(script_path).parent))
    sys.argv = [script_path]
    status = 0
    try:
        runpy.run_path(script_path, run_name="__main__")
    except SystemExit as stop:
        if stop.code is None or isinstance(stop.code, int):
            status = int(stop.code or 0) & 0xFF
        else:
            print(stop.code, file=sys.stderr)
            status = 1
    except KeyboardInterrupt:
        traceback.print_exc()
        status = -signal.SIGINT
    except Exception:
        traceback.print_exc()
        status = 1
    finally:
        os.chdir(saved[0])
        sys.path[:], sys.argv = saved[1], saved[2]
        # Only what the hook changed: emptying the environment on every render would
        # leave other threads of the worker (test servers) a moment without it.
        for name in set(os.environ) - set(saved[3]):
            del os.environ[name]
        for name, value in saved[3].items():
            if os.environ.get(name) != value:
                os.environ[name] = value
        for module in set(sys.modules) - saved[4]:
            del sys.modules[module]
        if errors and isinstance(sys.stderr, io.TextIOWrapper):
            sys.stderr.reconfigure(errors=errors)
    if status != 0:
        raise FailedHookException(f"Hook script failed (exit status: {status})")
    return None


_BINARY: dict[tuple[str, int, int], bool] = {}


def is_binary_while_unchanged(filename: str) -> bool:
    found = os.stat(filename)
    key = (os.path.abspath(filename), found.st_size, found.st_mtime_ns)
    if key not in _BINARY:
        _BINARY[key] = is_binary(filename)
    return _BINARY[key]


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
            with hooks_in_process(scripts):
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

    def alike(
        self,
        combinations: Iterable[dict],
        files: Iterable[str],
        answers: Iterable[str] = (),
    ) -> list[Alike]:
        """These combinations grouped by what a check reads: the content of these
        generated files (or their absence) and the values of these answers, in the
        order first met. A combination that fails to render fails here."""
        combinations, files, keys = list(combinations), list(files), list(answers)
        groups: dict[str, list[dict]] = {}
        projects: dict[str, Path] = {}
        for given, bake in zip(
            combinations, self.render_all(combinations), strict=True
        ):
            assert bake.exception is None, (given, bake.exception)
            project = Path(bake.project_path)
            read = [
                digest((project / f).read_bytes()) if (project / f).is_file() else None
                for f in files
            ]
            key = json.dumps([read, [given[k] for k in keys]])
            groups.setdefault(key, []).append(given)
            projects.setdefault(key, project)
        return [Alike(projects[k], tuple(groups[k])) for k in groups]

    def verdicts(
        self, relative: str, combinations: Iterable[dict], verdict: Callable
    ) -> dict[str, object]:
        """verdict(path) once per distinct content of the generated file `relative`
        over these combinations, by the content's digest (support/shared.py
        file_digest)."""
        renderings = self.distinct(relative, combinations)
        return {rendering.digest: verdict(rendering.path) for rendering in renderings}

    def each(self, combinations: Iterable[dict]) -> list[Alike]:
        """Each combination on its own: for a check that reads the whole project."""
        combinations = list(combinations)
        results = self.render_all(combinations)
        for answers, result in zip(combinations, results, strict=True):
            assert result.exception is None, (answers, result.exception)
        return [
            Alike(Path(result.project_path), (answers,))
            for answers, result in zip(combinations, results, strict=True)
        ]

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


@dataclass(frozen=True)
class Alike:
    """Combinations whose renderings are the same for what a check reads: the check
    of the first one is the verdict for all of them."""

    project: Path  # the first combination's rendering
    combinations: tuple[dict, ...]

    @property
    def answers(self) -> dict:
        return self.combinations[0]

    def __str__(self) -> str:
        more = len(self.combinations) - 1
        return combination_id(self.answers) + (f" (and {more} alike)" if more else "")


def check_each(groups: list[Alike], check: Callable[[Path, dict], None]) -> None:
    """check(project, answers) once per group, on its first combination; every
    failure is reported, naming its group (the first ten in full). Not vacuous:
    there is a group to check."""
    assert groups, "no combination to check"
    failures = []
    for group in groups:
        try:
            check(group.project, group.answers)
        except AssertionError as error:
            failures.append(f"{group}: {error}")
    assert not failures, f"{len(failures)} of {len(groups)} groups fail:\n" + (
        "\n".join(failures[:10])
    )


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
    """The answers of every test selected in this run that uses `fixture` (its
    `answers`, or every combination of its `scope`), in order, without repeats:
    what a session fixture batching one check over many renderings has to cover.
    (Each pytest-xdist worker sees the whole selection.)"""
    found: dict[str, dict] = {}
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        if fixture not in item.fixturenames:
            continue
        given = [params["answers"]] if "answers" in params else []
        given += scope_matrix(params["scope"]) if "scope" in params else []
        for answers in given:
            found.setdefault(json.dumps(answers, sort_keys=True), answers)
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
