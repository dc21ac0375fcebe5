"""The words that name each option, which a project that declined the option must
not say, and the one list of mentions that are right anyway, each with its reason
(read by tests/test_generated_text.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass

# What each option brings, by the words that name it: a project that declined the
# option says none of them (in prose, code spans and code blocks), but where
# ALLOWED_MENTIONS says why.
DECLINED_WORDS = {
    "tracing": re.compile(r"\b(?:traces?|X-Ray|Tracer)\b", re.IGNORECASE),
    "ci": re.compile(
        r"\b(?:Dependabot|GitHub Actions|OIDC|the workflow)\b|\.github/", re.IGNORECASE
    ),
    "monitoring": re.compile(r"\b(?:alarms?|dashboards?|SNS)\b", re.IGNORECASE),
    "metrics": re.compile(r"\b(?:EMF|the metrics namespace)\b", re.IGNORECASE),
}


@dataclass(frozen=True)
class Allowed:
    """A mention of a declined option's words that is right: `pattern` found in
    the prose (whole_line: in the prose's first line of the file), for these
    options ("*": any), in the generated files at `paths`."""

    options: str
    paths: tuple[str, ...]
    pattern: str
    reason: str
    whole_line: bool = False


# The one list of mentions of a declined option's words, each with its reason.
ALLOWED_MENTIONS = [
    Allowed(
        "*",
        ("README.md",),
        r"^\| `\w+`[^|]*\| (no|`none`|not used) \|$",
        'the row of "What was selected" that says the option is off',
        whole_line=True,
    ),
    Allowed(
        "tracing",
        ("docs/security.md",),
        r"no X-Ray tracing\s+\(not selected\)",
        "the checks checkov skips, with why: X-Ray's, because tracing is off",
    ),
    Allowed(
        "tracing",
        ("requirements-dev.txt",),
        r"the tracer extra the layer also contains",
        "Powertools' extra named tracer, which the layer holds whatever the answers",
    ),
    Allowed(
        "monitoring",
        ("docs/deploy.md",),
        r"rolled back by an\s+alarm",
        "CodeDeploy's rollback alarm (gradual deployment, not set up), not the stack's",
    ),
    Allowed(
        "tracing",
        ("template.yaml",),
        r"checkov:skip=CKV_AWS_73: X-Ray tracing was not selected \(tracing=no\)\.",
        "the reason checkov's X-Ray check is skipped: tracing is off",
    ),
    Allowed(
        "tracing",
        ("dev.py", "docs/develop.md"),
        r"TRACE, CONNECT",
        "the HTTP method TRACE (the local server answers it as API Gateway does)",
    ),
]


def allowed_spans(path: str, line: str, names: str) -> dict[str, list[range]]:
    """option -> the spans of a prose's `names` where ALLOWED_MENTIONS lets its
    words be ("*" for every option); `line` is the file's line where it starts."""
    spans: dict[str, list[range]] = {}
    for allowance in ALLOWED_MENTIONS:
        if path not in allowance.paths:
            continue
        if allowance.whole_line:
            if re.search(allowance.pattern, line):
                spans.setdefault(allowance.options, []).append(range(len(names)))
            continue
        for match in re.finditer(allowance.pattern, names):
            spans.setdefault(allowance.options, []).append(range(*match.span()))
    return spans


def within(spans: dict[str, list[range]], option: str, at: int) -> bool:
    """Whether position `at` is in an allowed span for this option."""
    return any(at in span for span in spans.get(option, []) + spans.get("*", []))
