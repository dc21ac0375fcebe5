"""What a generated project says reads clean in every combination: the Markdown, the
comments (YAML, TOML, Python, Makefile, requirements files, .gitignore) and the
Python docstrings.

- No line over 100 characters, outside tables, code blocks and lines carrying a URL
  (and checkov's skip directives, which checkov reads from one line).
- No doubled word ("the the"), across line breaks too.
- Nothing names what the combination does not have: a Powertools setting the
  function's environment lacks (by its variable or by what it is called in prose,
  e.g. "log level"), a module of the function that was not generated, or a word of
  an option it declined (DECLINED_WORDS: traces, Dependabot, alarm, EMF...) but
  where the one list ALLOWED_MENTIONS says why it is right; the modules ruff's
  isort config calls first-party exist.
- Free-text answers are escaped for Markdown: rendered by a CommonMark parser, the
  title and description are exactly the answers, as plain text.

Each check runs once per distinct rendered file (its path, bytes and the settings,
modules and declined options of its project), not once per combination; the names
are found once per file and each project keeps those it lacks. The quick subset's
files in the fast loop, the full product's marked slow.
"""

from __future__ import annotations

import functools
import io
import json
import re
import tokenize
import tomllib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from matrix import DEFAULTS, combination_id, quick_matrix
from support.declined import ALLOWED_MENTIONS, DECLINED_WORDS, allowed_spans, within
from support.documents import load_cfn
from support.markdown import markdown_tokens, opening
from support.prose import HASH_COMMENTED, UV_LOCK_HEADER, hash_comments, prose_of
from support.renders import SCOPES, baked_project, scope_matrix
from support.template import PROJECT_TEMPLATE, post_gen

MAX_LINE = 100
URL = re.compile(r"\bhttps?://")
CHECKOV_SKIP = re.compile(r"#\s*checkov:skip=")
DOUBLED = re.compile(r"\b([A-Za-z]+)\s+\1\b", re.IGNORECASE)
# Every Powertools setting some combination's function has, and what prose calls
# it besides its variable name. Declared here, not read from template.yaml (a
# setting renamed there would leave prose naming the old one unflagged):
# test_the_declared_settings_are_the_templates checks the two agree.
SETTING_PHRASES = {
    "POWERTOOLS_LOG_LEVEL": ("log level",),
    "POWERTOOLS_LOGGER_LOG_EVENT": ("log event",),
    "POWERTOOLS_METRICS_NAMESPACE": ("namespace",),
    "POWERTOOLS_SERVICE_NAME": ("service name",),
}
SETTING = re.compile(r"\bPOWERTOOLS_[A-Z_]+\b")


@dataclass(frozen=True)
class Project:
    """What a file may refer to: its project's settings and function modules."""

    settings: frozenset[str]
    modules: frozenset[str]
    declined: frozenset[str] = frozenset()  # options of DECLINED_WORDS turned off


def project_of(root: Path) -> Project:
    template = load_cfn(root / "template.yaml")
    function = template["Resources"]["HelloWorldFunction"]["Properties"]
    recorded = json.loads((root / ".cookiecutter.json").read_text(encoding="utf-8"))
    answers = recorded["cookiecutter"]
    return Project(
        settings=frozenset(function["Environment"]["Variables"]),
        modules=frozenset(p.stem for p in (root / "hello_world").glob("*.py")),
        declined=frozenset(o for o in DECLINED_WORDS if answers[o] in (False, "none")),
    )


def long_lines(path: str, text: str) -> Iterator[int]:
    """Lines of prose over the limit that are not a table, code or URL line."""
    lines = text.splitlines()
    if path.endswith(".md"):
        exempt = set()
        for token in markdown_tokens(text):
            if token.map and token.type in (
                "fence",
                "code_block",
                "table_open",
                "html_block",
            ):
                exempt.update(range(*token.map))
        candidates = [i for i in range(len(lines)) if i not in exempt]
    elif path.endswith(".py"):
        tokens = tokenize.generate_tokens(io.StringIO(text).readline)
        candidates = [t.start[0] - 1 for t in tokens if t.type == tokenize.COMMENT]
    elif path.endswith(HASH_COMMENTED) and not text.startswith(UV_LOCK_HEADER):
        candidates = [number - 1 for number, _ in hash_comments(text)]
    else:
        candidates = []
    for index in candidates:
        line = lines[index]
        # A comment after code (a pinned action's "# v6.2.3") makes no line of
        # prose long: the code does, and the code is checked by its own linters.
        if not path.endswith(".md") and not line.lstrip().startswith("#"):
            continue
        if (
            len(line) > MAX_LINE
            and not URL.search(line)
            and not CHECKOV_SKIP.search(line)
        ):
            yield index + 1


# --- the checks -------------------------------------------------------------------


def check_line_length(path: str, text: str, project: Project) -> list[str]:
    return [f"line {n}: over {MAX_LINE} characters" for n in long_lines(path, text)]


def check_doubled_words(path: str, text: str, project: Project) -> list[str]:
    return [
        f"line {prose.line}: doubled word {match.group(0)!r}"
        for prose in prose_of(path, text)
        for match in DOUBLED.finditer(prose.text)
    ]


@functools.cache
def vocabulary() -> tuple[frozenset[str], frozenset[str]]:
    """Every setting and function module some combination has: the settings
    declared above, the modules in the template's function folder."""
    modules = frozenset(p.stem for p in (PROJECT_TEMPLATE / "hello_world").glob("*.py"))
    return frozenset(SETTING_PHRASES), modules


def test_the_declared_settings_are_the_templates():
    template = (PROJECT_TEMPLATE / "template.yaml").read_text(encoding="utf-8")
    assert set(SETTING.findall(template)) == set(SETTING_PHRASES)


@dataclass(frozen=True)
class Mention:
    """A name in a file's prose that some combination must not have there: a
    setting it does not set ("setting"), a function module it does not have
    ("module", "first-party"), the word of an option it declined ("option"), or
    a setting no combination has ("unknown")."""

    line: int
    kind: str
    subject: str  # the setting, module or option
    phrase: str  # as the prose says it


@functools.cache
def name_patterns() -> tuple[re.Pattern, re.Pattern, re.Pattern, dict[str, str]]:
    """One regular expression each for the settings' names and phrases (any case),
    the function's modules, and the declined options' words (a group per option,
    any case); and the setting each lowercased phrase names."""
    settings, modules = vocabulary()
    phrases = {
        phrase.lower(): setting
        for setting in settings
        for phrase in (setting, *SETTING_PHRASES.get(setting, ()))
    }
    alternatives = "|".join(map(re.escape, sorted(phrases, key=len, reverse=True)))
    options = "|".join(
        f"(?P<{option}>{words.pattern})" for option, words in DECLINED_WORDS.items()
    )
    return (
        re.compile(rf"\b(?:{alternatives})\b", re.IGNORECASE),
        re.compile(rf"\b(?:{'|'.join(sorted(modules))})\b"),
        re.compile(options, re.IGNORECASE),
        phrases,
    )


@functools.cache
def prose_mentions(path: str, line: str, names: str) -> tuple[tuple[str, ...], ...]:
    """(kind, subject, phrase) of each name in one prose of a file at `path`
    (`line`: the file's line it starts on), but those ALLOWED_MENTIONS lets be.
    Once per distinct prose: most of a file's prose is the same in many
    combinations."""
    settings, _ = vocabulary()
    setting_names, module_names, option_words, phrases = name_patterns()
    spans = allowed_spans(path, line, names)
    found: dict[tuple[str, ...], None] = {}
    for unknown in sorted(set(SETTING.findall(names)) - settings):
        found["unknown", unknown, unknown] = None
    for match in setting_names.finditer(names):
        if not within(spans, "*", match.start()):
            found["setting", phrases[match[0].lower()], match[0]] = None
    for match in module_names.finditer(names):
        found["module", match[0], match[0]] = None
    for match in option_words.finditer(names):
        if not within(spans, match.lastgroup, match.start()):
            found["option", match.lastgroup, match[0]] = None
    return tuple(found)


@functools.cache
def mentions(path: str, text: str) -> tuple[Mention, ...]:
    """Every such name in a file, found once per file (each project then keeps
    those it lacks)."""
    lines = text.splitlines()
    found: dict[Mention, None] = {}
    for prose in prose_of(path, text):
        line = lines[prose.line - 1] if lines else ""
        for kind, subject, phrase in prose_mentions(path, line, prose.names):
            found[Mention(prose.line, kind, subject, phrase)] = None
    if path == "pyproject.toml":
        isort = tomllib.loads(text)["tool"]["ruff"]["lint"]["isort"]
        for module in isort["known-first-party"]:
            found[Mention(0, "first-party", module, module)] = None
    return tuple(found)


def check_names(path: str, text: str, project: Project) -> list[str]:
    findings = []
    for m in mentions(path, text):
        where = f"line {m.line}: names {m.phrase!r}"
        if m.kind == "unknown":
            findings.append(f"{where}, which no combination sets")
        elif m.kind == "setting" and m.subject not in project.settings:
            findings.append(f"{where}, but {m.subject} is not set")
        elif m.kind == "module" and m.subject not in project.modules:
            findings.append(f"{where}, which was not generated")
        elif m.kind == "option" and m.subject in project.declined:
            findings.append(f"line {m.line}: says {m.phrase!r}, but {m.subject} is off")
        elif m.kind == "first-party" and m.subject not in project.modules:
            findings.append(f"known-first-party: {m.subject!r} is not generated")
    return findings


CHECKS: list[Callable[[str, str, Project], list[str]]] = [
    check_line_length,
    check_doubled_words,
    check_names,
]
# The checks that read a file alone, whatever project it is in.
CONTEXT_FREE = (check_line_length, check_doubled_words)


@pytest.fixture(scope="session")
def rendered_files(bake) -> Callable[[str], dict]:
    """scope -> {(path, bytes, project): a combination that renders it}."""
    cache: dict[str, dict] = {}

    def files(scope: str) -> dict:
        if scope not in cache:
            matrix = scope_matrix(scope)
            found: dict[tuple[str, bytes, Project], str] = {}
            for answers in matrix:
                root = baked_project(bake, answers)
                project = project_of(root)
                for file in sorted(root.rglob("*")):
                    if file.is_file():
                        key = (file.relative_to(root).as_posix(), file.read_bytes())
                        found.setdefault((*key, project), combination_id(answers))
            cache[scope] = found
        return cache[scope]

    return files


@pytest.mark.parametrize("scope", SCOPES)
def test_generated_text(rendered_files, scope):
    """Each check once per distinct file (and project, where it matters); the
    checks in one test, so that a worker reads the scope's files once for all."""
    findings = []
    for check in CHECKS:
        distinct: dict[tuple, tuple[str, str, Project, str]] = {}
        for (path, content, project), combination in rendered_files(scope).items():
            key = (path, content) if check in CONTEXT_FREE else (path, content, project)
            text = content.decode("utf-8")
            distinct.setdefault(key, (path, text, project, combination))
        findings += [
            f"{check.__name__}: {path} ({combination}): {finding}"
            for path, text, project, combination in distinct.values()
            for finding in check(path, text, project)
        ]
    assert findings == []


# --- the checks catch what they are for (seen in earlier renderings) --------------

ALL_SETTINGS = Project(
    settings=frozenset(SETTING_PHRASES), modules=frozenset({"app", "build_function"})
)
NOTHING = Project(settings=frozenset(), modules=frozenset({"app"}))
DECLINED = Project(
    settings=frozenset(), modules=frozenset({"app"}), declined=frozenset(DECLINED_WORDS)
)


@pytest.mark.parametrize(
    ("check", "path", "text", "project"),
    [
        pytest.param(
            check_line_length,
            "README.md",
            "Intro.\n\n" + "word " * 27 + "\n",
            NOTHING,
            id="long-markdown-line",
        ),
        pytest.param(
            check_line_length,
            "template.yaml",
            "a: 1\n  # " + "word " * 25 + "\n",
            NOTHING,
            id="long-yaml-comment",
        ),
        pytest.param(
            check_doubled_words,
            "README.md",
            "Runs the\nthe function.\n",
            NOTHING,
            id="doubled-across-lines",
        ),
        pytest.param(
            check_doubled_words,
            "hello_world/app.py",
            '"""Module."""\n\n# Logs and\n# and traces.\nx = 1\n',
            NOTHING,
            id="doubled-in-a-python-comment-block",
        ),
        pytest.param(
            check_names,
            "template.yaml",
            "# checkov:skip=CKV_AWS_173: Holds service name, log level, namespace\n",
            Project(frozenset({"POWERTOOLS_SERVICE_NAME"}), frozenset({"app"})),
            id="setting-named-in-prose",
        ),
        pytest.param(
            check_names,
            "README.md",
            "Set `POWERTOOLS_METRICS_NAMESPACE` to rename it.\n",
            NOTHING,
            id="setting-named-in-markdown",
        ),
        pytest.param(
            check_names,
            "docs/observe.md",
            "Set `POWERTOOLS_LOG_LEVEL_NAME` to DEBUG.\n",
            ALL_SETTINGS,
            id="setting-no-combination-has",
        ),
        pytest.param(
            check_names,
            "pyproject.toml",
            '[tool.ruff.lint.isort]\nknown-first-party = ["app", "build_function"]\n',
            NOTHING,
            id="first-party-module-not-generated",
        ),
        # Seen before: with tracing off, the duration alarm's description.
        pytest.param(
            check_names,
            "template.yaml",
            "  # 80% of the timeout; look for slow calls in its traces.\n",
            DECLINED,
            id="declined-tracing-in-a-comment",
        ),
        # Seen before: with ci=none, a generated test's docstring.
        pytest.param(
            check_names,
            "tests/unit/test_pre_commit_pins.py",
            '"""requirements-dev.txt pins ruff, and Dependabot updates it."""\n',
            DECLINED,
            id="declined-ci-in-a-docstring",
        ),
        pytest.param(
            check_names,
            "docs/monitoring.md",
            "Run `aws sns subscribe` once:\n\n```bash\naws sns subscribe\n```\n",
            DECLINED,
            id="declined-monitoring-in-code",
        ),
        pytest.param(
            check_names,
            "README.md",
            "| `tracing`: X-Ray tracing | yes |\n|---|---|\n| `metrics` | no |\n",
            DECLINED,
            id="declined-tracing-in-a-row-that-says-yes",
        ),
    ],
)
def test_checks_find_what_they_are_for(check, path, text, project):
    assert check(path, text, project) != []


def test_each_allowed_mention_is_one_that_says_why():
    """Each allowance of ALLOWED_MENTIONS lets through what it is for (here, in the
    files it names, with every option off), and nothing else in the file."""
    samples = {
        "README.md": "| `tracing`: X-Ray tracing (Powertools Tracer) | no |\n",
        "docs/security.md": "No dead-letter queue, no X-Ray tracing\n(not selected).\n",
        "requirements-dev.txt": "# with the tracer extra the layer also contains\n",
        "docs/deploy.md": "A deploy rolled back by an\nalarm is not set up.\n",
        "template.yaml": "  # checkov:skip=CKV_AWS_73: X-Ray tracing was not selected"
        " (tracing=no).\n",
        "dev.py": "# Every method, TRACE, CONNECT and unknown ones included.\n",
        "docs/develop.md": "Any method (TRACE, CONNECT and unknown ones included).\n",
    }
    paths = [path for allowance in ALLOWED_MENTIONS for path in allowance.paths]
    assert sorted(samples) == sorted(paths)
    for allowance in ALLOWED_MENTIONS:
        assert len(allowance.reason) > 20, allowance
        for path in allowance.paths:
            assert check_names(path, samples[path], DECLINED) == [], path
            # The same words elsewhere in the file are still found.
            extra = "\n\nX-Ray traces, an alarm, the workflow, EMF.\n"
            if path.endswith(".md"):
                assert check_names(path, samples[path] + extra, DECLINED) != [], path


WORDS = " ".join(f"word{n}" for n in range(30))  # 200 characters, none doubled


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("README.md", f"| a | {WORDS} |\n|---|---|\n| c | d |\n"),
        ("README.md", f"```bash\n{WORDS}\n```\n"),
        ("README.md", "See [docs](https://example.com/" + "p" * 100 + ").\n"),
        ("template.yaml", f"  # checkov:skip=CKV_AWS_1: {WORDS}\n"),
        ("template.yaml", 'a: "# not a comment ' + "x" * 100 + '"\n'),
        ("README.md", "The `x` `x` values, then that: that is fine.\n"),
    ],
)
def test_checks_leave_tables_code_urls_and_directives_alone(path, text):
    for check in CHECKS:
        assert check(path, text, ALL_SETTINGS) == [], check.__name__


# --- answers are text in README, never markup ----------------------------------------

MARKUP_NAME = "C# <b>x</b> *y* _z_ `c` [l](u) ~~s~~ $m$ &amp; | \\ 🚀 Café"
MARKUP_DESCRIPTION = (
    "1. Greets <you> & <script>alert(1)</script> <!-- hidden --> **bold** __b__ "
    "![i](x.png) <https://example.com> &copy; a\\*b $x^2$ | cell | ~strike~ # end #"
)


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(a, id=combination_id(a))
        for a in quick_matrix()[:2]  # the defaults and everything off
    ],
)
def test_answers_are_escaped_for_markdown(bake, answers):
    """A CommonMark parser reads the title and the description back as exactly the
    answers, in plain text: no emphasis, link, image, HTML, entity or code."""
    answers = {
        **answers,
        "project_name": MARKUP_NAME,
        "project_slug": "markup",
        "description": MARKUP_DESCRIPTION,
    }
    readme = (baked_project(bake, answers) / "README.md").read_text(encoding="utf-8")
    title, description = opening(markdown_tokens(readme))
    for inline, answer in ((title, MARKUP_NAME), (description, MARKUP_DESCRIPTION)):
        assert {child.type for child in inline.children} == {"text"}, inline.children
        assert "".join(child.content for child in inline.children) == answer
    # GitHub renders $...$ as math, which CommonMark does not know: escaped too.
    title, _, description = readme.splitlines()[:3]
    assert re.findall(r"(?<!\\)\$", title + description) == []


def test_readme_has_the_section_next_steps_point_to(bake):
    for answers in quick_matrix():
        project = baked_project(bake, answers)
        steps = post_gen.next_steps({**DEFAULTS, **answers, "project_slug": "x"})
        sections = set(re.findall(r'README\.md, "([^"]+)"', steps))
        assert sections, steps
        readme = (project / "README.md").read_text(encoding="utf-8")
        headings = {
            tokens.content
            for tokens in markdown_tokens(readme)
            if tokens.type == "inline"
        }
        assert sections <= headings, combination_id(answers)
