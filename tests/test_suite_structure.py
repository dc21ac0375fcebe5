"""The suite's own structure: fixtures in conftest.py, every shared helper in
helpers.py, test modules that import no other test module, and no function
defined twice (a second definition drifts from the first)."""

from __future__ import annotations

import ast
import json
import os
from collections import defaultdict
from pathlib import Path

from cookiecutter.config import get_user_config

from matrix import ROOT

TESTS = ROOT / "tests"
# The Python of this repository's tests and bench, and the option model they share
# (bench/tutorial and bench/floor are reference apps, kept as they are).
MODULES = sorted([*TESTS.glob("*.py"), *(ROOT / "bench").glob("*.py")]) + [
    ROOT / "matrix.py"
]


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
    found = set()
    for node in ast.walk(parsed(path)):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.split(".")[0])
    return found


def test_test_modules_import_no_test_module_nor_conftest():
    """Shared code lives in helpers.py, fixtures in conftest.py (pytest provides
    them by name)."""
    test_modules = {path.stem for path in TESTS.glob("test_*.py")}
    for path in MODULES:
        wrong = imported_modules(path) & (test_modules | {"conftest"})
        assert wrong == set(), f"{path.relative_to(ROOT)} imports {sorted(wrong)}"


def test_one_helper_module_beside_conftest():
    assert sorted(
        path.name for path in TESTS.glob("*.py") if not path.name.startswith("test_")
    ) == ["conftest.py", "helpers.py"]


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
