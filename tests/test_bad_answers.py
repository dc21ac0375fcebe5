"""Bad answers fail through the real cookiecutter, by the Python API (what cruft's
--extra-context, the suite's renders and sam init use) and by the CLI `key=value` form:
one line naming the variable, the value and the rule, printed before cookiecutter's
own traceback; a non-zero exit; nothing left in the output directory.

Where cookiecutter itself stops first (invalid choices, non-boolean strings, Jinja
syntax errors in an answer, an existing project directory), the tests pin down what
it does, so a cookiecutter upgrade that changes it is noticed. docs/hostile-answers.md
documents every case.
"""

from __future__ import annotations

import json
import os
import subprocess

import pytest
import yaml
from cookiecutter.exceptions import FailedHookException, OutputDirExistsException
from cookiecutter.main import cookiecutter
from jinja2 import TemplateSyntaxError

from matrix import ROOT
from support.markdown import markdown_tokens, opening
from support.processes import tool
from support.renders import tree


def generate(output_dir, answers: dict):
    """Run cookiecutter in-process into this output directory; return the exception
    it raised, or None. (Not pytest-cookies: these tests choose the output directory
    and check what is left in it; the user config is the suite's, conftest.py.)"""
    try:
        cookiecutter(
            str(ROOT), no_input=True, extra_context=answers, output_dir=str(output_dir)
        )
    except Exception as error:  # the tests assert on the type
        return error
    return None


def generate_cli(output_dir, answers: dict) -> subprocess.CompletedProcess:
    """The same through the cookiecutter CLI: `key=value` arguments, output of
    stdout and stderr interleaved as a terminal shows them."""
    return subprocess.run(
        [tool("cookiecutter"), str(ROOT), "--no-input", "-o", str(output_dir)]
        + [f"{key}={value}" for key, value in answers.items()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        check=False,
    )


def left_in(output_dir) -> list[str]:
    return sorted(p.relative_to(output_dir).as_posix() for p in output_dir.rglob("*"))


def empty_parents(answers: dict) -> list[str]:
    """The known limit (see the last test): the empty parent directory cookiecutter
    creates for a slug with "/" before the hook can reject it."""
    return ["my"] if answers.get("project_slug") == "my/service" else []


# Rejected by pre_gen_project.py: (answers, the variable the message names).
HOOK_REJECTS = {
    "name-empty": ({"project_name": ""}, "project_name"),
    "name-blank": ({"project_name": "   "}, "project_name"),
    "name-201-chars": ({"project_name": "n" * 201}, "project_name"),
    "name-newline": ({"project_name": "two\nlines"}, "project_name"),
    "name-nul": ({"project_name": "nul\x00byte"}, "project_name"),
    "name-escape-char": ({"project_name": "esc\x1b[31mred"}, "project_name"),
    "name-only-emoji": ({"project_name": "\U0001f680\U0001f680"}, "project_name"),
    "name-only-punctuation": ({"project_name": "'\"\\"}, "project_name"),
    "name-jinja-left-after-rendering": (
        {"project_name": "{{ '{{' }} 7*7 }}"},
        "project_name",
    ),
    "description-control": ({"description": "bell\x07"}, "description"),
    "name-right-to-left-override": (
        {"project_name": "cod\u202eexe.txt"},
        "project_name",
    ),
    "name-zero-width-space": ({"project_name": "zero\u200bwidth"}, "project_name"),
    "name-lone-joiner": ({"project_name": "a\u200db"}, "project_name"),
    "description-line-separator": ({"description": "one\u2028two"}, "description"),
    "description-paragraph-separator": ({"description": "a\u2029b"}, "description"),
    "slug-space": ({"project_slug": "my service"}, "project_slug"),
    "slug-slash": ({"project_slug": "my/service"}, "project_slug"),
    "slug-backslash": ({"project_slug": "my\\service"}, "project_slug"),
    "slug-parent": ({"project_slug": "../service"}, "project_slug"),
    "slug-leading-hyphen": ({"project_slug": "-service"}, "project_slug"),
    "slug-leading-dot": ({"project_slug": ".service"}, "project_slug"),
    "slug-uppercase": ({"project_slug": "MyService"}, "project_slug"),
    "slug-windows-con": ({"project_slug": "con"}, "project_slug"),
    "slug-windows-nul": ({"project_slug": "nul"}, "project_slug"),
    "slug-windows-aux": ({"project_slug": "aux"}, "project_slug"),
    "slug-not-a-stack-name": ({"project_slug": "1service"}, "project_slug"),
    "slug-129-chars": ({"project_slug": "s" * 129}, "project_slug"),
    "service-space": ({"service_name": "bad name"}, "service_name"),
    "service-129-chars": ({"service_name": "s" * 129}, "service_name"),
    "namespace-aws": ({"metrics_namespace": "AWS/Lambda"}, "metrics_namespace"),
    "namespace-aws-lower": ({"metrics_namespace": "aws/lambda"}, "metrics_namespace"),
    "namespace-chars": ({"metrics_namespace": "bad*chars"}, "metrics_namespace"),
    "namespace-256-chars": ({"metrics_namespace": "n" * 256}, "metrics_namespace"),
    "boolean-as-number": ({"logging": 1}, "logging"),
    "snapstart-python3.11": ({"snapstart": True, "runtime": "python3.11"}, "snapstart"),
}
# The CLI passes strings, and no NUL byte: the other cases are for the API only.
# A few run in the fast loop, the rest are marked slow (a process each).
CLI_QUICK = {
    "name-blank",
    "name-jinja-left-after-rendering",
    "slug-slash",
    "name-right-to-left-override",
}
CLI_REJECTS = [
    pytest.param(
        answers,
        variable,
        id=case,
        marks=() if case in CLI_QUICK else pytest.mark.slow,
    )
    for case, (answers, variable) in HOOK_REJECTS.items()
    if all(isinstance(v, str) and "\x00" not in v for v in answers.values())
]


@pytest.mark.parametrize(
    ("answers", "variable"), HOOK_REJECTS.values(), ids=HOOK_REJECTS.keys()
)
def test_hook_rejects_with_one_line_and_leaves_nothing(
    tmp_path, capfd, answers, variable
):
    error = generate(tmp_path, answers)

    assert isinstance(error, FailedHookException)
    errors = [
        line
        for line in capfd.readouterr().err.splitlines()
        if line.startswith("ERROR: ") and "Stopping generation" not in line
    ]
    assert len(errors) == 1 and errors[0].startswith(f"ERROR: {variable}="), errors
    assert left_in(tmp_path) == empty_parents(answers)


@pytest.mark.parametrize(("answers", "variable"), CLI_REJECTS)
def test_cli_prints_the_reason_first_and_leaves_nothing(tmp_path, answers, variable):
    result = generate_cli(tmp_path, answers)

    assert result.returncode == 1
    first_line = result.stdout.splitlines()[0]
    assert first_line.startswith(f"ERROR: {variable}="), result.stdout
    assert "Traceback" not in first_line
    assert left_in(tmp_path) == empty_parents(answers)


def test_cli_error_shows_the_characters_typed_and_names_the_invisible_one(tmp_path):
    result = generate_cli(tmp_path, {"project_name": "Caf\u00e9 \U0001f680\u202e"})

    assert result.returncode == 1
    assert result.stdout.splitlines()[0] == (
        'ERROR: project_name="Caf\u00e9 \U0001f680\\u202e": must not contain control, '
        "format or separator characters (U+202E RIGHT-TO-LEFT OVERRIDE)"
    )
    assert left_in(tmp_path) == []


# Free text as typed: non-ASCII letters, emoji, an emoji ZWJ sequence (woman
# technologist: the joiner is allowed between emoji), and characters that JSON files
# keep escaped.
TYPED = {
    "project_name": "Caf\u00e9 \U0001f469\u200d\U0001f4bb",
    "project_slug": "cafe",
    "description": "Gr\u00fc\u00dfe, \u65e5\u672c\u8a9e <b> & 'quoted' \U0001f680",
}


def test_non_ascii_answers_read_back_as_typed(tmp_path, cookiecutter_config):
    """Through the real CLI: README shows the answers, .cookiecutter.json stores them
    readably (only the invisible joiner and what `tojson` escapes stay escapes), and
    replaying that file renders the same project again, byte for byte."""
    result = generate_cli(tmp_path / "first", TYPED)
    assert result.returncode == 0, result.stdout
    project = tmp_path / "first" / "cafe"

    readme = (project / "README.md").read_text(encoding="utf-8")
    assert readme.startswith("# Caf\u00e9 \U0001f469\u200d\U0001f4bb\n")
    recorded_text = (project / ".cookiecutter.json").read_text(encoding="utf-8")
    assert '"project_name": "Caf\u00e9 \U0001f469\\u200d\U0001f4bb",' in recorded_text
    assert (
        '"description": "Gr\u00fc\u00dfe, \u65e5\u672c\u8a9e \\u003cb\\u003e \\u0026 '
        '\\u0027quoted\\u0027 \U0001f680",'
    ) in recorded_text
    recorded = json.loads(recorded_text)["cookiecutter"]
    assert {k: recorded[k] for k in TYPED} == TYPED

    replay_file = project / ".cookiecutter.json"
    replayed = subprocess.run(
        [tool("cookiecutter"), str(ROOT), "--replay-file", str(replay_file)]
        + ["-o", str(tmp_path / "again")],
        capture_output=True,
        encoding="utf-8",
        env={**os.environ, "COOKIECUTTER_CONFIG": str(cookiecutter_config)},
        check=False,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    again = tmp_path / "again" / "cafe"
    assert tree(again) == tree(project)


# Rejected by cookiecutter itself, before the output directory or any hook exists.
COOKIECUTTER_REJECTS = {
    "runtime-unknown": {"runtime": "python3.9"},
    "architecture-unknown": {"architecture": "i386"},
    "powertools-source-unknown": {"powertools_source": "conda"},
    "ci-unknown": {"ci": "gitlab"},
    "boolean-maybe": {"logging": "maybe"},
    "boolean-empty": {"metrics": ""},
}


@pytest.mark.parametrize(
    "answers", COOKIECUTTER_REJECTS.values(), ids=COOKIECUTTER_REJECTS.keys()
)
def test_cookiecutter_rejects_choices_and_booleans_before_hooks(tmp_path, answers):
    ((variable, value),) = answers.items()

    error = generate(tmp_path, answers)

    assert isinstance(error, ValueError)
    assert f"{value} provided for" in str(error) and variable in str(error)
    assert left_in(tmp_path) == []


@pytest.mark.parametrize(
    "answers",
    [COOKIECUTTER_REJECTS["runtime-unknown"], COOKIECUTTER_REJECTS["boolean-maybe"]],
    ids=["runtime-unknown", "boolean-maybe"],
)
def test_cookiecutter_cli_rejects_choices_and_booleans_before_hooks(tmp_path, answers):
    result = generate_cli(tmp_path, answers)

    assert result.returncode == 1
    assert "ValueError" in result.stdout
    assert left_in(tmp_path) == []


@pytest.mark.parametrize("value", ["no", "false", "0", "No", "off"])
def test_cookiecutter_turns_false_strings_into_booleans(tmp_path, value):
    generate_cli(tmp_path, {"tracing": value}).check_returncode()

    project = tmp_path / "hello-powertools"
    recorded = json.loads((project / ".cookiecutter.json").read_text(encoding="utf-8"))
    assert recorded["cookiecutter"]["tracing"] is False
    assert not (project / "tests" / "unit" / "test_tracing.py").exists()


def test_jinja_syntax_error_in_an_answer_stops_cookiecutter_first(tmp_path):
    # Cookiecutter renders every answer as a Jinja template before any hook runs.
    error = generate(tmp_path, {"project_name": "{% if %}"})

    assert isinstance(error, TemplateSyntaxError)
    assert left_in(tmp_path) == []


def test_jinja_expression_in_an_answer_is_evaluated_by_cookiecutter(tmp_path):
    # Documented, not endorsed: an answer is a template (so an answer can refer to
    # another, e.g. "{{ cookiecutter.project_slug }}-api"). Never pass untrusted
    # text as an answer; the hook only sees the result.
    assert (
        generate(tmp_path, {"project_name": "{{ 7*7 }}", "project_slug": "x"}) is None
    )

    recorded = json.loads((tmp_path / "x" / ".cookiecutter.json").read_text())
    assert recorded["cookiecutter"]["project_name"] == "49"


# Each would create a file called "executed" (relative: hooks run in the project
# directory) if any hook or generated file let it run as code.
INJECTIONS = {
    "double-quotes": '"""); import os; os.system("touch executed"); ("""',
    "single-quotes": "'''); import os; os.system('touch executed'); ('''",
    "backslashes": '\\"; touch executed; echo \\',
    "shell": "$(touch executed) `touch executed`",
    "escapes": "\\u0022 \\x22 \\\\ \\n \\",
    # Not code, but the same path: non-ASCII text must read back exactly too (a
    # JSON-escaped emoji is a surrogate pair, which YAML rejects).
    "unicode": "Caf\u00e9 \u65e5\u672c\u8a9e \U0001f680 it's",
}


@pytest.mark.parametrize("payload", INJECTIONS.values(), ids=INJECTIONS.keys())
def test_code_in_answers_is_data_never_executed(tmp_path, monkeypatch, payload):
    monkeypatch.chdir(tmp_path)
    output = tmp_path / "out"
    output.mkdir()

    # Through both hooks (pre-gen validates, post-gen prints next steps) and every
    # generated file that shows the name or description.
    answers = {"project_name": payload, "project_slug": "p", "description": payload}
    assert generate(output, answers) is None

    assert list(tmp_path.rglob("executed")) == []
    project = output / "p"
    recorded = json.loads((project / ".cookiecutter.json").read_text())["cookiecutter"]
    assert recorded["project_name"] == recorded["description"] == payload
    # README escapes it for Markdown: a CommonMark reader gets the answer back.
    readme = markdown_tokens((project / "README.md").read_text(encoding="utf-8"))
    title, description = opening(readme)
    assert [c.content for c in title.children] == [payload]
    assert [c.content for c in description.children] == [payload]
    # template.yaml quotes the description: YAML reads back exactly the answer.
    template = (project / "template.yaml").read_text(encoding="utf-8")
    description = next(
        line for line in template.splitlines() if line.startswith("Description:")
    )
    assert yaml.safe_load(description)["Description"] == payload


def test_existing_project_directory_is_never_overwritten(tmp_path):
    project = tmp_path / "hello-powertools"
    project.mkdir()
    (project / "app.py").write_text("# the user's own work\n", encoding="utf-8")

    error = generate(tmp_path, {})

    assert isinstance(error, OutputDirExistsException)
    assert left_in(tmp_path) == ["hello-powertools", "hello-powertools/app.py"]
    assert (project / "app.py").read_text(encoding="utf-8") == "# the user's own work\n"

    result = generate_cli(tmp_path, {})
    assert result.returncode == 1
    assert "already exists" in result.stdout
    assert left_in(tmp_path) == ["hello-powertools", "hello-powertools/app.py"]


@pytest.mark.parametrize("slug", ["..", "."])
def test_dot_slugs_are_stopped_by_cookiecutter_before_hooks(tmp_path, slug):
    # The project directory would be the output directory or its parent, which
    # exist: cookiecutter refuses before any hook runs and writes nothing.
    output = tmp_path / "out"
    output.mkdir()

    error = generate(output, {"project_slug": slug})

    assert isinstance(error, OutputDirExistsException)
    assert left_in(tmp_path) == ["out"]


def test_directories_cookiecutter_creates_before_the_hook_stay_empty(tmp_path):
    # Known limit (README): cookiecutter creates the output directory and the
    # parents of a slug containing "/" before the pre-generation hook runs, and on
    # failure removes only the project directory. No file is ever written.
    output = tmp_path / "new-output"

    error = generate(output, {"project_slug": "team/service"})

    assert isinstance(error, FailedHookException)
    assert left_in(tmp_path) == ["new-output", "new-output/team"]


def test_after_a_rejected_answer_replay_runs_again_without_retyping(
    tmp_path, cookiecutter_config
):
    """The hook's second line: cookiecutter saved every answer before the hook ran;
    fix the one rejected there (and what was derived from it: the service name
    from the slug) and --replay generates with all the others."""
    config = ["--config-file", str(cookiecutter_config)]
    typed = {"project_name": "Kept Name", "tracing": "no", "project_slug": "Bad Slug"}
    first = subprocess.run(
        [tool("cookiecutter"), str(ROOT), "--no-input", "-o", str(tmp_path), *config]
        + [f"{key}={value}" for key, value in typed.items()],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        encoding="utf-8",
        check=False,
    )
    assert first.returncode == 1
    error, hint = first.stdout.splitlines()[:2]
    assert error.startswith("ERROR: project_slug=")
    assert f"~/.cookiecutter_replay/{ROOT.name}.json" in hint, hint
    replay_dir = yaml.safe_load(cookiecutter_config.read_text())["replay_dir"]
    saved = os.path.join(replay_dir, f"{ROOT.name}.json")
    with open(saved, encoding="utf-8") as file:
        replay = json.load(file)
    assert replay["cookiecutter"]["service_name"] == "Bad Slug"  # derived
    replay["cookiecutter"]["project_slug"] = "good-slug"
    replay["cookiecutter"]["service_name"] = "good-slug"
    with open(saved, "w", encoding="utf-8") as file:
        json.dump(replay, file)

    again = subprocess.run(
        [tool("cookiecutter"), str(ROOT), "--replay", "-o", str(tmp_path), *config],
        capture_output=True,
        encoding="utf-8",
        check=False,
    )

    assert again.returncode == 0, again.stdout + again.stderr
    project = tmp_path / "good-slug"
    recorded = json.loads((project / ".cookiecutter.json").read_text("utf-8"))
    assert recorded["cookiecutter"]["project_name"] == "Kept Name"
    assert recorded["cookiecutter"]["tracing"] is False
