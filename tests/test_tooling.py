"""The repository's own tooling: one test command, in README and in .ci/run, and
one command per loop (noxfile.py); exact pins everywhere."""

from __future__ import annotations

import ast
import importlib.metadata
import re
import sys
import tomllib

import noxfile
from matrix import ROOT
from support.processes import run
from support.template import README
from support.tools import TOOL_PINS

EXACT = re.compile(r"[A-Za-z0-9][\w.-]*(\[[\w,]+\])?==[\w.]+")


def readme_test_command() -> str:
    section = README[README.index("## Run the tests") :]
    block = re.search(r"```bash\n(.*?)\n```", section, re.DOTALL)[1]
    (command,) = block.splitlines()
    return command


def test_ci_runs_exactly_the_readme_test_command():
    lines = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    assert lines[-1] == readme_test_command()


def test_one_session_per_loop():
    listed = run([sys.executable, "-m", "nox", "--list", "--no-color"], cwd=ROOT)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    sessions = re.findall(r"^[*-] (\w+)", listed.stdout, re.MULTILINE)
    assert sessions == [
        "fast",
        "full",
        "tools",
        "lint",
        "bake",
        "bench",
        "mutations",
    ], listed.stdout


def test_every_mutation_still_applies(tmp_path):
    """The session `mutations` edits the template: each text it replaces is still
    there, once (a mutation that no longer applies would prove nothing)."""
    for edits in noxfile.MUTATIONS.values():
        for name in edits:
            (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / name).write_bytes((ROOT / name).read_bytes())
        noxfile.mutate(tmp_path, edits)
        for name in edits:
            assert (tmp_path / name).read_bytes() != (ROOT / name).read_bytes()


def test_tools_are_pinned_exactly():
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    dev = pyproject["dependency-groups"]["dev"]
    assert [r for r in dev if not EXACT.fullmatch(r)] == []
    assert all(re.fullmatch(r"\d[\w.]*", v) for v in TOOL_PINS.values()), TOOL_PINS


# Imported by the code under measurement, not by the bench: the generated app.
NOT_DEPENDENCIES = {"app"}


def third_party_imports() -> dict[str, set[str]]:
    """Top-level names imported anywhere in tests/ (its support package included),
    bench/ and the option model, leaving out the standard library and this
    repository's own modules: name -> the files importing it."""
    own = {p.stem for p in (ROOT / "tests").glob("*.py")} | {
        "bench",
        "matrix",
        "noxfile",
        "support",
    }
    files = [
        *(ROOT / "tests").glob("*.py"),
        *(ROOT / "tests" / "support").glob("*.py"),
        *(ROOT / "bench").glob("*.py"),
    ]
    found: dict[str, set[str]] = {}
    for path in [*files, ROOT / "matrix.py"]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in (n.split(".")[0] for n in names):
                if name not in sys.stdlib_module_names | own | NOT_DEPENDENCIES:
                    found.setdefault(name, set()).add(path.name)
    return found


def test_every_third_party_import_is_declared_in_the_dev_group():
    """Each imported package's distribution (importlib.metadata) is pinned in
    pyproject.toml's dev group, not only present because something else needs it."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    declared = {
        canonical(requirement.split("==")[0].split("[")[0])
        for requirement in pyproject["dependency-groups"]["dev"]
    }
    distributions = importlib.metadata.packages_distributions()
    imports = third_party_imports()
    assert {"yaml", "boto3", "pytest_cookies"} <= set(imports)  # the check sees them
    undeclared = {
        name: sorted(files)
        for name, files in imports.items()
        if not {canonical(d) for d in distributions.get(name, [name])} & declared
    }
    assert undeclared == {}


def canonical(name: str) -> str:
    """A distribution name as packaging compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def test_boto3_is_the_version_aws_sam_cli_pins():
    """The tests and SAM CLI share one environment: the declared boto3 is SAM CLI's."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    pins = dict(r.split("==") for r in pyproject["dependency-groups"]["dev"])
    sam_cli = importlib.metadata.requires("aws-sam-cli")
    (boto3,) = [r for r in sam_cli if re.match(r"boto3(\[\w+\])?==", r)]
    assert boto3.split("==")[1] == pins["boto3"]
    assert importlib.metadata.version("boto3") == pins["boto3"]
