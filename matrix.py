"""The template's option model, derived from cookiecutter.json: the choices, the
booleans, the defaults `--no-input` gives, which options change the generated code,
and the combinations the suite, the template's CI and the bench go through.

A module of the repository root so that the tests (pyproject.toml's pytest
`pythonpath`), the bench (`python -m bench` from the root) and noxfile.py import
the one copy. Everything here is data about the template's inputs; expectations
about the generated output live in the tests that check it. A new option in
cookiecutter.json enters every matrix by itself.
"""

from __future__ import annotations

import itertools
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parent
COOKIECUTTER_JSON = json.loads((ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
POWERTOOLS_VERSION = COOKIECUTTER_JSON["_powertools_version"]

# The public answers: every key of cookiecutter.json not starting with "_".
PUBLIC_KEYS = [key for key in COOKIECUTTER_JSON if not key.startswith("_")]
CHOICES = {
    k: COOKIECUTTER_JSON[k]
    for k in PUBLIC_KEYS
    if isinstance(COOKIECUTTER_JSON[k], list)
}
BOOLEANS = [k for k in PUBLIC_KEYS if isinstance(COOKIECUTTER_JSON[k], bool)]
# What `--no-input` gives: the first choice, the boolean's default.
DEFAULTS = {
    **{k: v[0] for k, v in CHOICES.items()},
    **{k: COOKIECUTTER_JSON[k] for k in BOOLEANS},
}
# Everything off: every boolean off, no CI, Powertools from the layer (nothing in
# the function's own requirements); the other answers at their defaults.
EVERYTHING_OFF = {
    **DEFAULTS,
    **{k: False for k in BOOLEANS},
    "powertools_source": "layer",
    "ci": "none",
}
# Options that change which files exist or what they contain, in matrix order.
MATRIX_KEYS = [k for k in PUBLIC_KEYS if k in CHOICES or k in BOOLEANS]
# The options whose generated tests differ: each of these combinations runs its own
# generated test suite (runtime, architecture, ci and snapstart do not change the
# Python or its tests; monitoring only template.yaml, deploy-role.yaml and prose).
# A new option enters by default.
NO_CODE_KEYS = ("runtime", "architecture", "ci", "snapstart", "monitoring")
CODE_KEYS = [k for k in MATRIX_KEYS if k not in NO_CODE_KEYS]
# Runtimes that offer Lambda SnapStart for Python: declared in cookiecutter.json,
# where the pre-gen hook reads them too (its rendered context holds every key).
SNAPSTART_RUNTIMES = tuple(COOKIECUTTER_JSON["_snapstart_runtimes"])


def supported(answers: dict) -> bool:
    """Whether the pre-gen hook accepts this combination (tests/test_bad_answers.py
    checks the ones it rejects)."""
    answers = {**DEFAULTS, **answers}
    return not (answers["snapstart"] and answers["runtime"] not in SNAPSTART_RUNTIMES)


def values(key: str) -> list:
    return CHOICES[key] if key in CHOICES else [True, False]


def combination_id(answers: dict) -> str:
    """A readable test id: python3.13-arm64-logging-no_tracing-metrics-pip-github."""
    parts = []
    for key in MATRIX_KEYS:
        value = answers.get(key, DEFAULTS[key])
        parts.append(
            str(value)
            if not isinstance(value, bool)
            else (key if value else f"no_{key}")
        )
    return "-".join(parts)


def full_matrix() -> list[dict]:
    """Every supported combination of every choice and boolean."""
    combinations = (
        dict(zip(MATRIX_KEYS, combo, strict=True))
        for combo in itertools.product(*(values(k) for k in MATRIX_KEYS))
    )
    return [answers for answers in combinations if supported(answers)]


def code_matrix() -> list[dict]:
    """Every combination of the options that change the generated Python."""
    combinations = (
        {**DEFAULTS, **dict(zip(CODE_KEYS, combo, strict=True))}
        for combo in itertools.product(*(values(k) for k in CODE_KEYS))
    )
    return [answers for answers in combinations if supported(answers)]


def quick_matrix() -> list[dict]:
    """A small, spread-out subset for the fast loop: the defaults, everything off,
    then every other value of every option once, the other answers at their
    defaults (one_change_matrix()); no combination twice. Every value of every
    option is rendered in the fast loop (tests/test_generation.py checks it)."""
    subset = [
        dict(DEFAULTS),
        dict(EVERYTHING_OFF),
        *({**DEFAULTS, **change} for change in one_change_matrix()),
    ]
    unique = {combination_id(a): a for a in subset if supported(a)}
    return list(unique.values())


def one_change_matrix() -> list[dict]:
    """The defaults ({}), then each other value of each option, the other answers at
    their defaults: every value rendered once and the default project once (the
    template CI's render jobs: render_jobs())."""
    changes = [{}] + [
        {key: value}
        for key in MATRIX_KEYS
        for value in values(key)
        if value != DEFAULTS[key]
    ]
    return [answers for answers in changes if supported(answers)]


def render_jobs() -> list[str]:
    """The template CI's render jobs (.github/workflows/ci.yml reads this list at
    run time, from `python3 matrix.py`): one_change_matrix() as cookiecutter's
    `key=value` words, "" for the defaults."""
    return [cli_answers(answers) for answers in one_change_matrix()]


def cli_answers(answers: dict) -> str:
    """The answers as cookiecutter's command line takes them after --no-input:
    `key=value` words, booleans as true/false."""
    return " ".join(
        f"{key}={str(value).lower() if isinstance(value, bool) else value}"
        for key, value in answers.items()
    )


def matrix_params() -> list:
    """The full matrix as pytest parameters with readable ids: the quick subset runs
    in the fast loop, every other combination is marked slow."""
    import pytest

    quick = {combination_id(a) for a in quick_matrix()}
    return [
        pytest.param(
            answers,
            id=combination_id(answers),
            marks=() if combination_id(answers) in quick else pytest.mark.slow,
        )
        for answers in full_matrix()
    ]


def build_matrix() -> list[dict]:
    """The combinations `sam build` builds with the pip builder (test_sam_cli.py):
    every distinct bundle on the default runtime -- powertools_source x tracing
    (what requirements.txt asks for) x architecture (which wheels) -- with logging,
    metrics and monitoring on as tracing is, so each value of each is built too;
    then every other runtime with pip (its wheels must exist for that Python), and
    the defaults with SnapStart. (The other mixes of
    logging, tracing and metrics bundle what one of these does; each is built and
    run under Lambda's runtime client by test_lambda_runtime.py.)"""
    combinations = [
        {
            **DEFAULTS,
            "powertools_source": source,
            "architecture": architecture,
            **{
                option: on for option in ("logging", "tracing", "metrics", "monitoring")
            },
        }
        for source in values("powertools_source")
        for on in (True, False)
        for architecture in values("architecture")
    ]
    others = [
        {**DEFAULTS, "runtime": r, "powertools_source": "pip"}
        for r in values("runtime")[1:]
    ]
    return [*combinations, *others, {**DEFAULTS, "snapstart": True}]


def makefile_builds() -> list[dict]:
    """The combinations built with build_method=makefile (test_build_method.py):
    either source of Powertools."""
    return [
        {**DEFAULTS, "build_method": "makefile", "powertools_source": source}
        for source in values("powertools_source")
    ]


if __name__ == "__main__":
    # Standard library only: the template CI runs it with the runner's Python.
    print(json.dumps(render_jobs()))
