"""Build: render each subject's project and `sam build` it, as a user would.

Generated subjects are rendered by cookiecutter from this repository with their
answers (ci=none: it does not touch the function) for the bench's runtime and the
host's architecture (binary wheels such as wrapt must load here); the reference
apps are copied from bench/<name>/ with their *.in files filled in. A build is
reused while the project's files are unchanged (--rebuild forces one).
"""

from __future__ import annotations

import ast
import concurrent.futures
import contextlib
import hashlib
import io
import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from matrix import POWERTOOLS_VERSION, ROOT

from .subjects import Subject

BENCH = ROOT / "bench"
SAM = Path(sys.executable).parent / "sam"
FUNCTION = "HelloWorldFunction"


def output_of(command: list, **kwargs) -> str:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(
            f"failed ({result.returncode}): {' '.join(map(str, command))}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )
    return result.stdout


def interpreter(runtime: str) -> Path:
    """The runtime's Python (python3.X on PATH, else pyenv's), resolved to the real
    executable: a pyenv shim may not run, and sam build needs the real one."""
    candidates = [shutil.which(runtime)]
    if pyenv := shutil.which("pyenv"):
        root = Path(output_of([pyenv, "root"]).strip())
        version = runtime.removeprefix("python")
        found = root.glob(f"versions/{version}*/bin/{runtime}")
        candidates += sorted(map(str, found), reverse=True)
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return Path(probe.stdout.strip())
    sys.exit(f"bench: {runtime} not found on PATH nor in pyenv: install it")


def host_architecture() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("arm64", "aarch64") else "x86_64"


@contextlib.contextmanager
def quiet_stdout():
    """File descriptor 1 (also a subprocess's) to /dev/null: the post-gen hook
    prints next steps."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def render(subject: Subject, work: Path, runtime: str, arch: str) -> Path:
    """The subject's project directory, ready for sam build."""
    slug = "b-" + re.sub(r"[^a-z0-9]+", "-", subject.build.label.lower()).strip("-")
    if subject.fixture:
        project = work / "projects" / slug
        shutil.rmtree(project, ignore_errors=True)
        shutil.copytree(BENCH / subject.fixture, project)
        for template in project.rglob("*.in"):
            text = template.read_text("utf-8").format(
                runtime=runtime, architecture=arch, version=POWERTOOLS_VERSION
            )
            template.with_suffix("").write_text(text, "utf-8")
            template.unlink()
        (project / "hello_world" / "requirements.txt").touch()
        return project
    from cookiecutter.main import cookiecutter

    answers = {**subject.options, "runtime": runtime, "architecture": arch}
    source = template_tree(subject.template, work) if subject.template else ROOT
    with quiet_stdout():
        project = Path(
            cookiecutter(
                str(source),
                no_input=True,
                extra_context={**answers, "project_slug": slug, "ci": "none"},
                output_dir=str(work / "projects"),
                overwrite_if_exists=True,
            )
        )
    if subject.patch_modules != "rendered":
        set_patch_modules(project / "hello_world" / "app.py", subject.patch_modules)
    return project


def template_tree(revision: str, work: Path) -> Path:
    """This repository's files at a git revision (a branch, tag or commit), made
    once per commit under `work`: a subject's template=REVISION renders from it."""
    commit = output_of(
        ["git", "rev-parse", "--verify", "--end-of-options", f"{revision}^{{commit}}"],
        cwd=ROOT,
    ).strip()
    tree = work / "templates" / commit
    if not tree.exists():
        partial = tree.with_name(f"{commit}.partial")
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        archive = subprocess.run(
            ["git", "archive", commit], cwd=ROOT, capture_output=True, check=True
        ).stdout
        with tarfile.open(fileobj=io.BytesIO(archive)) as files:
            files.extractall(partial, filter="data")
        partial.rename(tree)
    return tree


def set_patch_modules(app: Path, value: str) -> None:
    """Rewrite the one Tracer(...) call: "all" drops patch_modules (Tracer's
    default: patch every module it supports), "none" passes patch_modules=()."""
    source = app.read_text("utf-8")
    calls = [
        node
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Tracer"
    ]
    if len(calls) != 1:
        sys.exit(f"bench: {app}: {len(calls)} Tracer(...) calls, expected one")
    call = calls[0]
    call.keywords = [k for k in call.keywords if k.arg != "patch_modules"]
    if value == "none":
        call.keywords.append(ast.keyword("patch_modules", ast.Tuple([], ast.Load())))
    lines = source.splitlines(keepends=True)
    # Set by the parser on every node it makes.
    assert call.end_lineno is not None and call.end_col_offset is not None
    start = sum(map(len, lines[: call.lineno - 1])) + call.col_offset
    end = sum(map(len, lines[: call.end_lineno - 1])) + call.end_col_offset
    app.write_text(source[:start] + ast.unparse(call) + source[end:], "utf-8")


def project_digest(project: Path) -> str:
    digest = hashlib.sha256()
    for path in sorted(project.rglob("*")):
        if path.is_file() and ".aws-sam" not in path.relative_to(project).parts:
            digest.update(str(path.relative_to(project)).encode() + b"\0")
            digest.update(path.read_bytes())
    return digest.hexdigest()


def sam_build(project: Path, python: Path, rebuild: bool) -> Path:
    """`sam build` with the runtime's Python on PATH; the function's build output."""
    output = project / ".aws-sam" / "build"
    marker = project / ".aws-sam" / "bench-digest"
    digest = project_digest(project)
    if rebuild or not marker.exists() or marker.read_text() != digest:
        env = {
            **os.environ,
            "SAM_CLI_TELEMETRY": "0",
            "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
        }
        command = [SAM, "build", "--build-dir", output, "--no-cached"]
        output_of(command, cwd=project, env=env)
        marker.write_text(digest)
    return output


def build_all(subjects, work: Path, python: Path, runtime: str, rebuild: bool):
    """Subject -> its project directory, built (two builds at a time)."""
    arch = host_architecture()
    projects = {s.build: render(s.build, work, runtime, arch) for s in subjects}
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda p: sam_build(p, python, rebuild), projects.values()))
    return {s: projects[s.build] for s in subjects}


def sam_version() -> str:
    return output_of([SAM, "--version"]).split()[-1]
