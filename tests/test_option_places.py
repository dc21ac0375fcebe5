"""Adding an option: every place that has to know about it, checked here. One test
per option of cookiecutter.json names the places still missing it, so a new option
fails with the list of what is left to do.

Declared by hand, each a decision:
- cookiecutter.json: the variable and its question (`__prompts__`);
- hooks/pre_gen_project.py: rejects a bad value of it, naming it;
- README.md: a row of the options table;
- the generated README.md: a row of "What was selected" giving the answer
  (test_readme checks every combination's);
- matrix.py build_matrix() or makefile_builds(): a real `sam build`
  of each value that changes what sam build reads (hello_world/, template.yaml);
- matrix.py NO_CODE_KEYS only if it changes the content of no generated
  Python or requirements file (the generated-test matrix and bench/ leave those
  out);
- if a value owns files: hooks/post_gen_project.py OPTION_PATHS and
  tests/test_generation.py OPTION_FILES, which test_generation checks agree.
Derived, nothing to do: the test matrices (matrix.py), the template CI's render
jobs (.github/workflows/ci.yml runs matrix.py for them: test_workflows checks the
wiring), the bench subjects (bench/ reads matrix.CODE_KEYS), the generated
.cookiecutter.json.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from matrix import (
    BOOLEANS,
    CHOICES,
    COOKIECUTTER_JSON,
    DEFAULTS,
    NO_CODE_KEYS,
    PUBLIC_KEYS,
    ROOT,
    build_matrix,
    makefile_builds,
    supported,
    values,
)
from support.markdown import SHOWN_ABOVE_THE_TABLE, selection_table
from support.renders import baked_project, tree
from support.template import README, pre_gen

# A name no place declares: what a new option looks like before any work.
UNDECLARED = "an_option_nobody_declared"


def is_matrix_option(option: str) -> bool:
    """Choices and booleans; an option cookiecutter.json does not know yet is
    treated as one (the case with the most places)."""
    return option in CHOICES or option in BOOLEANS or option not in COOKIECUTTER_JSON


def option_values(option: str) -> list:
    return values(option) if option in CHOICES or option in BOOLEANS else [True, False]


def with_value(option: str, value) -> dict | None:
    answers = {**DEFAULTS, option: value}
    return answers if supported(answers) else None


def changes(
    bake, option: str, value, parts: tuple[str, ...], suffixes=(), content_only=False
) -> bool:
    """Whether this value, the other answers at their defaults, renders these
    parts of the project differently from the defaults (with content_only, the
    files both have: which files exist is OPTION_FILES' business). Unknown
    options: yes."""
    answers = with_value(option, value)
    if option not in COOKIECUTTER_JSON:
        return True
    if answers is None:
        return False

    def selected(project: Path) -> dict[str, bytes]:
        files = tree(project, parts)
        return {k: v for k, v in files.items() if not suffixes or k.endswith(suffixes)}

    changed = selected(baked_project(bake, answers))
    default = selected(baked_project(bake, DEFAULTS))
    if content_only:
        return any(changed[k] != default[k] for k in changed.keys() & default.keys())
    return changed != default


def rejects_a_bad_value(valid: dict, option: str) -> bool:
    if option in CHOICES:
        bad = ["not-a-choice"]
    elif option in BOOLEANS:
        bad = ["yes"]
    else:
        bad = ["", "\x00", None, "not-a-choice", "yes"]
    for value in bad:
        try:
            pre_gen.validate({**valid, option: value})
        except pre_gen.InvalidAnswer as error:
            if error.variable == option:
                return True
    return False


def places(bake, option: str) -> dict[str, bool]:
    """Each place this option must reach, and whether it does (see the module
    docstring)."""
    recorded = baked_project(bake, {}) / ".cookiecutter.json"
    generated_readme = (recorded.parent / "README.md").read_text(encoding="utf-8")
    valid = json.loads(recorded.read_text(encoding="utf-8"))["cookiecutter"]
    places = {
        "cookiecutter.json": option in COOKIECUTTER_JSON,
        "cookiecutter.json __prompts__": option in COOKIECUTTER_JSON["__prompts__"],
        "hooks/pre_gen_project.py validate()": rejects_a_bad_value(valid, option),
        "README.md options table": bool(
            re.search(rf"^\| `{re.escape(option)}` \|", README, re.MULTILINE)
        ),
        'generated README.md "What was selected"': option in SHOWN_ABOVE_THE_TABLE
        or option in selection_table(generated_readme),
    }
    if is_matrix_option(option):
        built = [*build_matrix(), *makefile_builds()]
        build_inputs = ("hello_world", "template.yaml")
        places["a sam build test (test_sam_cli, test_build_method)"] = all(
            any(answers.get(option) == value for answers in built)
            for value in option_values(option)
            if changes(bake, option, value, build_inputs)
        )
        code = (".py", "requirements.txt", "requirements-dev.txt")
        places["matrix.py NO_CODE_KEYS (it changes the code)"] = (
            option not in NO_CODE_KEYS
            or not any(
                changes(bake, option, value, (".",), code, content_only=True)
                for value in option_values(option)
            )
        )
    return places


def missing_places(bake, option: str) -> list[str]:
    """The places that do not know this option yet."""
    return [place for place, known in places(bake, option).items() if not known]


@pytest.mark.parametrize("option", PUBLIC_KEYS)
def test_every_place_knows_the_option(bake, option):
    assert missing_places(bake, option) == []


def test_a_new_option_is_missing_from_every_place(bake):
    """The check is not vacuous: a name nothing declares is missing everywhere."""
    assert missing_places(bake, UNDECLARED) == [
        "cookiecutter.json",
        "cookiecutter.json __prompts__",
        "hooks/pre_gen_project.py validate()",
        "README.md options table",
        'generated README.md "What was selected"',
        "a sam build test (test_sam_cli, test_build_method)",
    ]


# Each place, as CONTRIBUTING.md's "Add an option" names it.
CONTRIBUTING_NAMES = {
    "cookiecutter.json": "`cookiecutter.json`",
    "cookiecutter.json __prompts__": "`__prompts__`",
    "hooks/pre_gen_project.py validate()": "`hooks/pre_gen_project.py`",
    "README.md options table": "README's options table",
    'generated README.md "What was selected"': '"What was selected"',
    "a sam build test (test_sam_cli, test_build_method)": "`build_matrix()`",
    "matrix.py NO_CODE_KEYS (it changes the code)": "`NO_CODE_KEYS`",
}


def test_contributing_names_every_place(bake):
    """CONTRIBUTING.md's steps for a new option name every place checked here (a
    choice or a boolean reaches them all), and the files a value may own."""
    text = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    section = text[text.index("## Add an option\n") :]
    section = " ".join(section[: section.index("\n## ")].split())
    assert sorted(places(bake, "logging")) == sorted(CONTRIBUTING_NAMES)
    named = [*CONTRIBUTING_NAMES.values(), "`OPTION_PATHS`", "`OPTION_FILES`"]
    assert [name for name in named if name not in section] == []
