"""The suite's own structure: test modules named for what they test, beside
conftest.py (the fixtures); the machinery they share in the support package
(tests/support/), one module per fake or subject, each saying what it holds; test
modules that import no other test module; no module over 500 lines without the
reason at its top; no function defined twice (a second definition drifts from the
first)."""

from __future__ import annotations

import ast
import json
import os
import re
from collections import defaultdict
from pathlib import Path

from cookiecutter.config import get_user_config

from matrix import ROOT

TESTS = ROOT / "tests"
SUPPORT = TESTS / "support"
TEST_MODULES = sorted(TESTS.glob("test_*.py"))
SUPPORT_MODULES = sorted(p for p in SUPPORT.glob("*.py") if p.name != "__init__.py")
# The Python of this repository's tests and bench, and the option model they share
# (bench/tutorial and bench/floor are reference apps, kept as they are).
MODULES = sorted(
    [*TESTS.glob("*.py"), *SUPPORT_MODULES, *(ROOT / "bench").glob("*.py")]
) + [ROOT / "matrix.py"]
# A longer module says why at its top: a line of its docstring starting so.
LINE_LIMIT = 500
LONG_REASON = "Over 500 lines:"


def parsed(path: Path) -> ast.Module:
    return ast.parse(path.read_text(encoding="utf-8"), filename=str(path))


def definitions(modules: list[Path]) -> dict[str, list[str]]:
    """Every module-level function and every method of a module-level class, by
    name: where each is defined. Dunder methods are left out, and a method may
    share its name with methods of other classes (an override of a library's API:
    do_POST, log_message), not with a module-level function."""
    functions: dict[str, list[str]] = defaultdict(list)
    methods: dict[str, list[str]] = defaultdict(list)
    for path in modules:
        where = f"{path.parent.name}/{path.name}"
        for node in parsed(path).body:
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                functions[node.name].append(f"{where}:{node.lineno}")
            elif isinstance(node, ast.ClassDef):
                for item in node.body:
                    if isinstance(item, ast.FunctionDef) and not (
                        item.name.startswith("__") and item.name.endswith("__")
                    ):
                        methods[item.name].append(f"{where}:{item.lineno}")
    return {
        name: places + methods.get(name, [])
        for name, places in functions.items()
        if len(places + methods.get(name, [])) > 1
    }


def test_no_function_is_defined_twice():
    assert definitions(MODULES) == {}


def test_the_check_finds_a_second_definition(tmp_path):
    """Not blind: a copy of a helper, or a function named like a method, is found."""
    copy = tmp_path / "test_copy.py"
    copy.write_text(
        "def baked_project(bake, answers):\n    pass\n\n\n"
        "def distinct(bake, combinations, relative):\n    pass\n",
        encoding="utf-8",
    )
    found = definitions([*MODULES, copy])
    assert sorted(found) == ["baked_project", "distinct"]
    assert found["distinct"][0] == f"{tmp_path.name}/test_copy.py:5"


def imported_modules(path: Path) -> set[str]:
    """The modules a module imports (absolute imports, their first two parts:
    `support.renders`, `matrix`)."""
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found.update(".".join(a.name.split(".")[:2]) for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(".".join(node.module.split(".")[:2]))
    return found


def test_tests_holds_test_modules_conftest_and_the_support_package():
    """Beside the test modules only conftest.py (fixtures) and support/ (the rest of
    what tests share): a helper module elsewhere would grow into a grab bag."""
    entries = {p.name for p in TESTS.iterdir() if p.name != "__pycache__"}
    others = {n for n in entries if not re.fullmatch(r"test_\w+\.py", n)}
    assert others == {"conftest.py", "support"}
    assert (SUPPORT / "__init__.py").is_file()
    inside = {p.name for p in SUPPORT.iterdir() if p.name != "__pycache__"}
    assert {n for n in inside if not n.endswith(".py")} == set(), "a flat package"


def test_test_modules_import_machinery_from_support_only():
    """No module imports a test module or conftest.py (pytest provides fixtures by
    name); what tests share is imported from support.<module>."""
    test_modules = {path.stem for path in TEST_MODULES}
    for path in MODULES:
        imported = {name.split(".")[0] for name in imported_modules(path)}
        wrong = imported & (test_modules | {"conftest"})
        assert wrong == set(), f"{path.relative_to(ROOT)} imports {sorted(wrong)}"
        # The package by its one name: never `tests.support` nor a bare module.
        bare = {p.stem for p in SUPPORT_MODULES} & imported
        assert bare == set(), f"{path.relative_to(ROOT)} imports {sorted(bare)}"
        assert "tests" not in imported, path


def test_every_support_module_says_what_it_holds():
    """Each support module opens with a docstring saying what it holds, and the
    package's docstring lists each module with a line of its own: a contributor
    finds, from the tree alone, which file holds each fake."""
    for path in SUPPORT_MODULES:
        docstring = ast.get_docstring(parsed(path)) or ""
        assert len(docstring.split()) >= 8, f"{path.name}: say what it holds"
    index = ast.get_docstring(parsed(SUPPORT / "__init__.py")) or ""
    listed = re.findall(r"^- (\w+): \S", index, re.MULTILINE)
    assert listed == sorted(listed), "the index in the order of the file names"
    assert listed == [path.stem for path in SUPPORT_MODULES]


def test_support_holds_no_tests_and_no_fixtures():
    """Tests live in test modules, fixtures in conftest.py or the module that uses
    them: a support module only provides what they are made of."""
    for path in SUPPORT_MODULES:
        for node in ast.walk(parsed(path)):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                assert not node.name.startswith("test"), f"{path.name}: {node.name}"
                decorators = [ast.unparse(d) for d in node.decorator_list]
                assert not [d for d in decorators if "fixture" in d], node.name


def long_modules(paths: list[Path]) -> list[str]:
    """Modules over LINE_LIMIT lines whose docstring gives no reason."""
    found = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        if len(text.splitlines()) <= LINE_LIMIT:
            continue
        docstring = ast.get_docstring(ast.parse(text)) or ""
        if not any(line.startswith(LONG_REASON) for line in docstring.splitlines()):
            found.append(path.name)
    return found


def test_no_module_over_500_lines_without_the_reason_at_its_top(tmp_path):
    """The tests, their support, the hooks, the bench, the option model and the
    task runner; not blind: a long module without a reason is found."""
    python = [*MODULES, *(ROOT / "hooks").glob("*.py"), ROOT / "noxfile.py"]
    assert long_modules(python) == []
    long = tmp_path / "test_long.py"
    long.write_text('"""A long module."""\n' + "x = 1\n" * LINE_LIMIT, "utf-8")
    reasoned = tmp_path / "test_reasoned.py"
    reasoned.write_text(
        f'"""A long module.\n\n{LONG_REASON} one run serves them all."""\n'
        + "x = 1\n" * LINE_LIMIT,
        "utf-8",
    )
    assert long_modules([long, reasoned]) == ["test_long.py"]


def test_contributing_has_a_line_per_test_module():
    """CONTRIBUTING.md's "What the suite checks" gives each test module a line of
    its own, and names no module that is gone."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    (section,) = re.findall(r"^## What the suite checks\n(.*?)^## ", text, re.S | re.M)
    lines = re.findall(r"^- `(test_\w+\.py)`:", section, re.MULTILINE)
    assert sorted(lines) == sorted(p.name for p in TEST_MODULES)
    assert len(lines) == len(set(lines))


def test_renders_keep_cookiecutter_state_out_of_home(cookies, cookiecutter_config):
    """Every render reads the session's user config (pytest-cookies'): the replay
    file and any clone go under it, never to ~/.cookiecutter_replay or
    ~/.cookiecutters; the CLI, sam init and cruft get it through
    COOKIECUTTER_CONFIG."""
    assert os.environ["COOKIECUTTER_CONFIG"] == str(cookiecutter_config)
    config = get_user_config()
    for key in ("replay_dir", "cookiecutters_dir"):
        assert Path(config[key]).parent == cookiecutter_config.parent, key
        assert not Path(config[key]).is_relative_to(Path.home()), key
    result = cookies.bake(extra_context={"ci": "none"}, template=str(ROOT))
    assert result.exception is None, result.exception
    replay = Path(config["replay_dir"]) / f"{ROOT.name}.json"
    recorded = json.loads(replay.read_text(encoding="utf-8"))
    assert recorded["cookiecutter"]["ci"] == "none"
