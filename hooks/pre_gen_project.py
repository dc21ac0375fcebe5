"""Validate the answers before anything is generated.

Cookiecutter renders this file with Jinja, then runs it with the Python that runs
cookiecutter. On a bad answer it prints one line naming the variable, the value and
the rule, and exits 1: cookiecutter then deletes the half-made project directory.

The answers arrive as JSON data (rendered with ``tojson``), never pasted into the
source, so quotes, backslashes or code in an answer cannot change this program.
Standard library only; importable by tests (``main`` runs only as a script).
"""

from __future__ import annotations

import io
import json
import os
import re
import sys
import unicodedata

# Replaced by cookiecutter with the answers; left as is when tests import this file.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %} Nothing below is rendered by Jinja.

# Keep in step with cookiecutter.json (tests/test_hooks.py checks it).
CHOICES = {
    "runtime": ("python3.13", "python3.14", "python3.12", "python3.11"),
    "architecture": ("arm64", "x86_64"),
    "powertools_source": ("layer", "pip"),
    "build_method": ("pip", "makefile"),
    "ci": ("github", "none"),
}
BOOLEANS = ("logging", "tracing", "metrics", "monitoring", "snapstart")

# Characters free text must not contain: invisible ones that can reorder, hide or
# break the text they are shown in (README, template.yaml, error lines).
INVISIBLE = {
    "Cc": "a control character",
    "Cf": "a format character",
    "Zl": "a line separator",
    "Zp": "a paragraph separator",
    "Cs": "a lone surrogate",
}
# Allowed on purpose between two emoji (👩‍💻), the only place it has a visible role.
ZERO_WIDTH_JOINER = "\u200d"
# Allowed on purpose between two letters: Persian and Indic scripts spell words with
# it (می‌خواهم), where it keeps two letters from joining.
ZERO_WIDTH_NON_JOINER = "\u200c"
# What may follow an emoji before a joiner: variation selector 16, skin tones.
EMOJI_SUFFIXES = "\ufe0f" + "".join(map(chr, range(0x1F3FB, 0x1F400)))
# Cookiecutter renders answers as Jinja before this hook runs; delimiters that are
# still here would be rendered again by a replay or `cruft update`.
JINJA = re.compile(r"\{\{|\}\}|\{%|%\}|\{#|#\}")
# What cookiecutter.json derives project_slug from a project_name without ASCII
# letters or digits: rejected here, naming project_name.
SLUG_FALLBACK = "empty-project-name"
SLUG = re.compile(r"[a-z][a-z0-9-]*")
SERVICE_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
NAMESPACE = re.compile(r"[A-Za-z0-9._/#: -]+")
# Device names Windows reserves, whatever the extension.
WINDOWS_RESERVED = {"con", "prn", "aux", "nul"} | {
    f"{device}{n}" for device in ("com", "lpt") for n in range(1, 10)
}


def shown(value: object) -> str:
    """The value as JSON with its characters as typed, except that what would be
    invisible or break the line (control, format, separator, unassigned...
    characters, lone surrogates) is shown as a \\u escape."""
    return "".join(
        c if c.isprintable() else json.dumps(c)[1:-1]
        for c in json.dumps(value, ensure_ascii=False)
    )


class InvalidAnswer(ValueError):
    """An answer that breaks a rule; str() is the one-line message for the user."""

    def __init__(self, variable: str, value: object, rule: str) -> None:
        text = shown(value)
        if len(text) > 80:
            text = text[:77] + "..."
        super().__init__(f"{variable}={text}: {rule}")
        self.variable = variable


def joins_emoji(text: str, index: int) -> bool:
    """Whether the zero width joiner at text[index] sits between two emoji."""
    before = text[:index].rstrip(EMOJI_SUFFIXES)
    after = text[index + 1 :]
    if not before or not after:
        return False
    return unicodedata.category(before[-1]) == unicodedata.category(after[0]) == "So"


def joins_letters(text: str, index: int) -> bool:
    """Whether the zero width non-joiner at text[index] sits between two letters
    (combining marks after the first, as in Indic scripts, belong to it)."""
    before = text[:index]
    while before and unicodedata.category(before[-1]).startswith("M"):
        before = before[:-1]
    after = text[index + 1 :]
    if not before or not after:
        return False
    return all(unicodedata.category(c).startswith("L") for c in (before[-1], after[0]))


def invisible_character(text: str) -> str | None:
    """'U+202E RIGHT-TO-LEFT OVERRIDE' for the first character free text must not
    contain, or None."""
    for index, c in enumerate(text):
        kind = INVISIBLE.get(unicodedata.category(c))
        if kind is None or (c == ZERO_WIDTH_JOINER and joins_emoji(text, index)):
            continue
        if c == ZERO_WIDTH_NON_JOINER and joins_letters(text, index):
            continue
        name = unicodedata.name(c, "")
        return f"U+{ord(c):04X} {name}" if name else f"U+{ord(c):04X}, {kind}"
    return None


def check_text(variable: str, value: object, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(variable, value, "must not be empty")
    if found := invisible_character(value):
        raise InvalidAnswer(
            variable,
            value,
            f"must not contain control, format or separator characters ({found})",
        )
    if JINJA.search(value):
        raise InvalidAnswer(
            variable, value, "must not contain Jinja delimiters ({{ }}, {% %}, {# #})"
        )
    if len(value) > max_length:
        raise InvalidAnswer(variable, value, f"must be at most {max_length} characters")


def check_slug(value: object) -> None:
    variable = "project_slug"
    if not isinstance(value, str) or not SLUG.fullmatch(value):
        raise InvalidAnswer(
            variable,
            value,
            "must start with a lowercase letter and contain only lowercase letters, "
            "digits and hyphens (a directory name on every OS and a CloudFormation "
            "stack name)",
        )
    if len(value) > 128:
        raise InvalidAnswer(variable, value, "must be at most 128 characters")
    if value.endswith("-"):
        raise InvalidAnswer(variable, value, "must not end with a hyphen")
    if value in WINDOWS_RESERVED:
        raise InvalidAnswer(variable, value, "is a device name reserved on Windows")


def check_service_name(value: object) -> None:
    if not isinstance(value, str) or not SERVICE_NAME.fullmatch(value):
        raise InvalidAnswer(
            "service_name",
            value,
            "must start with a letter or digit and contain only letters, digits, "
            "'.', '_' and '-'",
        )
    # As long as the longest slug, from which it is derived by default.
    if len(value) > 128:
        raise InvalidAnswer("service_name", value, "must be at most 128 characters")


def check_metrics_namespace(value: object) -> None:
    variable = "metrics_namespace"
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(variable, value, "must not be empty")
    if not NAMESPACE.fullmatch(value):
        raise InvalidAnswer(
            variable,
            value,
            "may contain only letters, digits, spaces and . - _ / # : "
            "(CloudWatch namespace rules)",
        )
    if value != value.strip():
        raise InvalidAnswer(variable, value, "must not start or end with a space")
    if len(value) > 255:
        raise InvalidAnswer(variable, value, "must be at most 255 characters")
    if value.upper().startswith("AWS/"):
        raise InvalidAnswer(
            variable, value, "must not start with 'AWS/' (reserved for AWS services)"
        )


def validate(answers: dict) -> None:
    """Raise InvalidAnswer for the first answer that breaks a rule."""
    check_text("project_name", answers.get("project_name"), max_length=100)
    if answers.get("project_slug") == SLUG_FALLBACK:
        raise InvalidAnswer(
            "project_name",
            answers["project_name"],
            "has no ASCII letter or digit to derive project_slug from: "
            "give project_slug too",
        )
    check_slug(answers.get("project_slug"))
    check_text("description", answers.get("description"), max_length=256)
    if "${" in answers["description"]:
        # template.yaml's Description: cfn-lint (sam validate --lint) reads "${...}"
        # outside Fn::Sub as a substitution left unresolved (E1029).
        raise InvalidAnswer(
            "description",
            answers["description"],
            "must not contain '${' (template.yaml would fail sam validate --lint)",
        )
    check_service_name(answers.get("service_name"))
    for variable, allowed in CHOICES.items():
        value = answers.get(variable)
        if value not in allowed:
            raise InvalidAnswer(variable, value, "must be one of " + ", ".join(allowed))
    for variable in BOOLEANS:
        value = answers.get(variable)
        if not isinstance(value, bool):
            raise InvalidAnswer(variable, value, "must be a boolean (true or false)")
    if answers["metrics"]:
        check_metrics_namespace(answers.get("metrics_namespace"))
    # The runtimes with Lambda SnapStart for Python: cookiecutter.json's
    # _snapstart_runtimes, which the answers carry (private keys included).
    runtimes = answers["_snapstart_runtimes"] if answers["snapstart"] else []
    if answers["snapstart"] and answers["runtime"] not in runtimes:
        oldest = min(runtimes, key=lambda r: tuple(map(int, r[6:].split("."))))
        raise InvalidAnswer(
            "snapstart",
            True,
            f"needs runtime {oldest} or newer (runtime is {answers['runtime']})",
        )


def replay_hint(answers: dict) -> str:
    """How to run again without typing every answer: cookiecutter saved them all
    in its replay directory, under the template folder's name, before this hook
    (cookiecutter 2.7, cookiecutter/main.py: dump() before generate_files())."""
    folder = answers.get("_repo_dir") or ""
    name = (
        os.path.basename(os.path.normpath(folder))
        if os.path.isabs(folder)
        else "<template folder>"
    )
    return (
        f"Your answers are saved in ~/.cookiecutter_replay/{name}.json (cookiecutter's"
        " replay_dir): fix that one there, and the answers derived from it, then run"
        " cookiecutter again with --replay and no answers."
    )


def main() -> int:
    # A console that cannot show a character gets an escape, never a crash.
    if isinstance(sys.stderr, io.TextIOWrapper):
        sys.stderr.reconfigure(errors="backslashreplace")
    answers = json.loads(ANSWERS_JSON)
    try:
        validate(answers)
    except InvalidAnswer as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        print(replay_hint(answers), file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
