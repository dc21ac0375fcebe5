"""Validate the answers before anything is generated.

Cookiecutter renders this file with Jinja, then runs it with the Python that runs
cookiecutter. On a bad answer it prints one line naming the variable, the value and
the rule, and exits 1: cookiecutter then deletes the half-made project directory.

The answers arrive as JSON data (rendered with ``tojson``), never pasted into the
source, so quotes, backslashes or code in an answer cannot change this program.
Standard library only; importable by tests (``main`` runs only as a script).
"""

from __future__ import annotations

import json
import re
import sys

# Replaced by cookiecutter with the answers; left as is when tests import this file.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %} Nothing below is rendered by Jinja.

# Keep in step with cookiecutter.json (tests/test_hooks.py checks it).
CHOICES = {
    "runtime": ("python3.13", "python3.14", "python3.12", "python3.11"),
    "architecture": ("arm64", "x86_64"),
    "powertools_source": ("pip", "layer"),
    "build_method": ("pip", "makefile"),
    "ci": ("github", "none"),
}
BOOLEANS = ("logging", "tracing", "metrics", "snapstart")
# Lambda SnapStart for Python exists from python3.12 on.
SNAPSTART_RUNTIMES = ("python3.12", "python3.13", "python3.14")

CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
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


class InvalidAnswer(ValueError):
    """An answer that breaks a rule; str() is the one-line message for the user."""

    def __init__(self, variable: str, value: object, rule: str) -> None:
        shown = json.dumps(value, ensure_ascii=True)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{variable}={shown}: {rule}")
        self.variable = variable


def check_text(variable: str, value: object, max_length: int) -> None:
    if not isinstance(value, str) or not value.strip():
        raise InvalidAnswer(variable, value, "must not be empty")
    if CONTROL.search(value):
        raise InvalidAnswer(variable, value, "must not contain control characters")
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
    if answers["snapstart"] and answers["runtime"] not in SNAPSTART_RUNTIMES:
        raise InvalidAnswer(
            "snapstart",
            True,
            f"needs runtime python3.12 or newer (runtime is {answers['runtime']})",
        )


def main() -> int:
    try:
        validate(json.loads(ANSWERS_JSON))
    except InvalidAnswer as error:
        print(f"ERROR: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
