"""Unit tests of the hooks' own functions (no cookiecutter involved)."""

from __future__ import annotations

import io
import json
import sys

import pytest

from matrix import (
    BOOLEANS,
    CHOICES,
    COOKIECUTTER_JSON,
    DEFAULTS,
    supported,
)
from support.template import post_gen, pre_gen

VALID = {
    # The private keys the hook reads, as the answers carry them.
    "_snapstart_runtimes": COOKIECUTTER_JSON["_snapstart_runtimes"],
    **DEFAULTS,
    "project_name": "Hello Powertools",
    "project_slug": "hello-powertools",
    "description": "A test service.",
    "service_name": "hello-powertools",
    "metrics_namespace": "HelloPowertools",
}


def test_choices_match_cookiecutter_json():
    assert pre_gen.CHOICES == {k: tuple(v) for k, v in CHOICES.items()}
    assert set(pre_gen.BOOLEANS) == set(BOOLEANS)


def test_valid_answers_pass():
    pre_gen.validate(VALID)


@pytest.mark.parametrize(
    ("variable", "value", "rule"),
    [
        ("project_name", "", "must not be empty"),
        ("project_name", "   ", "must not be empty"),
        ("project_name", "a\nb", "control, format or separator"),
        ("project_name", "x" * 101, "at most 100"),
        ("project_name", "x" * 250, "at most 100"),
        ("project_name", "a\x00b", "control, format or separator"),
        ("project_name", "tab\there", "control, format or separator"),
        ("project_name", "bell\x07", "control, format or separator"),
        ("project_name", "{{ cookiecutter.runtime }}", "Jinja delimiters"),
        ("project_name", "{% if x %}", "Jinja delimiters"),
        ("project_name", "note {# hidden #}", "Jinja delimiters"),
        ("description", "ends with }}", "Jinja delimiters"),
        ("description", "line\nbreak", "control, format or separator"),
        ("description", "d" * 257, "at most 256"),
        ("description", "Runs in ${AWS::Region}", "must not contain '${'"),
        ("project_name", "next\x85line", "U+0085, a control character"),
        ("project_name", "evil\u202etxt.exe", "U+202E RIGHT-TO-LEFT OVERRIDE"),
        ("project_name", "a\u2066b\u2069", "U+2066 LEFT-TO-RIGHT ISOLATE"),
        ("project_name", "zero\u200bwidth", "U+200B ZERO WIDTH SPACE"),
        ("project_name", "\ufeffbom", "U+FEFF ZERO WIDTH NO-BREAK SPACE"),
        ("description", "line\u2028separator", "U+2028 LINE SEPARATOR"),
        ("description", "para\u2029separator", "U+2029 PARAGRAPH SEPARATOR"),
        ("description", "lone \ud83d surrogate", "U+D83D, a lone surrogate"),
        # The joiner is allowed only between two emoji.
        ("project_name", "a\u200db", "U+200D ZERO WIDTH JOINER"),
        ("project_name", "\u200d\U0001f4bb", "U+200D ZERO WIDTH JOINER"),
        ("project_name", "\U0001f469\u200d", "U+200D ZERO WIDTH JOINER"),
        ("project_name", "\U0001f469 \u200d\U0001f4bb", "U+200D ZERO WIDTH JOINER"),
        # The non-joiner is allowed only between two letters.
        ("project_name", "\u200cab", "U+200C ZERO WIDTH NON-JOINER"),
        ("project_name", "ab\u200c", "U+200C ZERO WIDTH NON-JOINER"),
        ("project_name", "1\u200c2", "U+200C ZERO WIDTH NON-JOINER"),
        ("project_slug", "has space", "lowercase letter"),
        ("project_slug", "a/b", "lowercase letter"),
        ("project_slug", "..", "lowercase letter"),
        ("project_slug", "Upper", "lowercase letter"),
        ("project_slug", "-lead", "lowercase letter"),
        ("project_slug", "trail-", "must not end with a hyphen"),
        ("project_slug", "con", "reserved on Windows"),
        ("project_slug", "nul", "reserved on Windows"),
        ("project_slug", "aux", "reserved on Windows"),
        ("project_slug", "CON", "lowercase letter"),
        ("project_slug", "a\\b", "lowercase letter"),
        ("project_slug", ".hidden", "lowercase letter"),
        ("project_slug", "../up", "lowercase letter"),
        ("project_slug", "/abs", "lowercase letter"),
        ("project_slug", "1st", "lowercase letter"),
        ("project_slug", "under_score", "lowercase letter"),
        ("project_slug", "caf\u00e9", "lowercase letter"),
        ("project_slug", "", "lowercase letter"),
        ("project_slug", "a" * 129, "at most 128"),
        ("service_name", "has space", "only letters"),
        ("service_name", "", "only letters"),
        ("service_name", "-lead", "only letters"),
        ("service_name", "a/b", "only letters"),
        ("service_name", "s" * 129, "at most 128"),
        ("metrics_namespace", "aws/lower", "must not start with 'AWS/'"),
        ("metrics_namespace", "   ", "must not be empty"),
        ("metrics_namespace", "caf\u00e9", "CloudWatch namespace rules"),
        ("metrics_namespace", "AWS/Lambda", "must not start with 'AWS/'"),
        ("metrics_namespace", "bad*chars", "CloudWatch namespace rules"),
        ("metrics_namespace", " padded", "must not start or end with a space"),
        ("metrics_namespace", "n" * 256, "at most 255"),
        ("runtime", "python3.9", "must be one of"),
        ("architecture", "i386", "must be one of"),
        ("powertools_source", "conda", "must be one of"),
        ("ci", "gitlab", "must be one of"),
        ("logging", "false", "must be a boolean"),
        ("tracing", 1, "must be a boolean"),
        ("metrics", None, "must be a boolean"),
        ("snapstart", "yes", "must be a boolean"),
        ("build_method", "make", "must be one of"),
    ],
)
def test_invalid_answer_names_variable_value_and_rule(variable, value, rule):
    with pytest.raises(pre_gen.InvalidAnswer) as raised:
        pre_gen.validate({**VALID, variable: value})
    message = str(raised.value)
    assert message.startswith(f"{variable}=")
    assert rule in message
    assert "\n" not in message


def test_a_name_without_ascii_letters_or_digits_needs_a_slug():
    # cookiecutter.json derives this fallback slug when slugify gives nothing.
    answers = {
        **VALID,
        "project_name": "\U0001f680",
        "project_slug": "empty-project-name",
    }
    with pytest.raises(pre_gen.InvalidAnswer) as raised:
        pre_gen.validate(answers)
    assert str(raised.value).startswith("project_name=")
    assert "give project_slug too" in str(raised.value)


@pytest.mark.parametrize(
    "name",
    [
        "x",
        "Caf\u00e9 D\u00e9j\u00e0 Vu",
        "\u65e5\u672c\u8a9e\u30b5\u30fc\u30d3\u30b9",
        "Rocket \U0001f680",
        # Emoji ZWJ sequences: technologist, heart on fire (after VS16), a
        # technologist with a skin tone, family.
        "Dev \U0001f469\u200d\U0001f4bb",
        "\u2764\ufe0f\u200d\U0001f525",
        "\U0001f468\U0001f3fd\u200d\U0001f4bb",
        "\U0001f468\u200d\U0001f469\u200d\U0001f467",
        # The non-joiner between two letters: Persian, and Hindi after a virama.
        "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645",
        "\u0928\u094d\u200c\u0928",
        "no\u00a0break space",
        'O\'Brien "quoted" \\ back\\slash',
        "$(rm -rf ~) `id` ; | & > <",
        '""" ) ; import os ; os.system("id") ; ( """',
        "n" * 100,
    ],
)
def test_free_text_names_are_accepted_as_data(name):
    pre_gen.validate({**VALID, "project_name": name, "description": name})


def test_snapstart_needs_python_3_12_or_newer():
    with pytest.raises(pre_gen.InvalidAnswer) as raised:
        pre_gen.validate({**VALID, "snapstart": True, "runtime": "python3.11"})
    message = str(raised.value)
    assert message == (
        "snapstart=true: needs runtime python3.12 or newer (runtime is python3.11)"
    )
    for runtime in ("python3.12", "python3.13", "python3.14"):
        pre_gen.validate({**VALID, "snapstart": True, "runtime": runtime})
    pre_gen.validate({**VALID, "snapstart": False, "runtime": "python3.11"})


def test_matrix_skips_exactly_what_the_hook_rejects():
    """Both read the SnapStart runtimes from cookiecutter.json's
    _snapstart_runtimes (the hook from the answers cookiecutter renders into it)."""
    for runtime in CHOICES["runtime"]:
        for snapstart in (True, False):
            answers = {**VALID, "runtime": runtime, "snapstart": snapstart}
            try:
                pre_gen.validate(answers)
                accepted = True
            except pre_gen.InvalidAnswer:
                accepted = False
            assert supported(answers) == accepted, answers


def test_namespace_is_not_checked_without_metrics():
    pre_gen.validate({**VALID, "metrics": False, "metrics_namespace": "AWS/Lambda"})


def test_main_prints_one_error_line_and_fails(monkeypatch, capsys):
    monkeypatch.setattr(pre_gen, "ANSWERS_JSON", '{"project_name": " "}')
    assert pre_gen.main() == 1
    first, hint = capsys.readouterr().err.splitlines()
    assert first == 'ERROR: project_name=" ": must not be empty'
    assert hint == pre_gen.replay_hint({})


@pytest.mark.parametrize(
    ("folder", "name"),
    [
        (
            "/home/me/.cookiecutters/cookiecutter-sam-powertools",
            "cookiecutter-sam-powertools",
        ),
        ("/home/me/templates/sam/", "sam"),
        (".", "<template folder>"),  # relative to a directory the hook cannot know
    ],
)
def test_the_replay_hint_names_the_file_cookiecutter_saved(folder, name):
    hint = pre_gen.replay_hint({"_repo_dir": folder})
    assert f"~/.cookiecutter_replay/{name}.json" in hint
    assert "--replay" in hint


def test_messages_show_the_characters_typed_and_escape_invisible_ones():
    message = str(
        pre_gen.InvalidAnswer(
            "project_name", "Caf\u00e9 \U0001f680 \u65e5 \u202e\x07\u00a0\ud83d", "rule"
        )
    )
    assert message == (
        'project_name="Caf\u00e9 \U0001f680 \u65e5 \\u202e\\u0007\\u00a0\\ud83d": rule'
    )


def test_one_message_names_the_character_it_rejects():
    with pytest.raises(pre_gen.InvalidAnswer) as raised:
        pre_gen.validate({**VALID, "project_name": "invoice\u202efdp.exe"})
    assert str(raised.value) == (
        'project_name="invoice\\u202efdp.exe": must not contain control, format or '
        "separator characters (U+202E RIGHT-TO-LEFT OVERRIDE)"
    )


def test_main_never_crashes_on_a_console_that_cannot_show_the_value(monkeypatch):
    stderr = io.TextIOWrapper(io.BytesIO(), encoding="ascii")
    monkeypatch.setattr(sys, "stderr", stderr)
    monkeypatch.setattr(
        pre_gen, "ANSWERS_JSON", json.dumps({"project_name": "\U0001f680\u202e"})
    )

    assert pre_gen.main() == 1

    stderr.flush()
    assert stderr.buffer.getvalue().decode("ascii").splitlines()[0] == (
        'ERROR: project_name="\\U0001f680\\u202e": must not contain control, format or '
        "separator characters (U+202E RIGHT-TO-LEFT OVERRIDE)"
    )


def test_long_values_are_shortened_in_messages():
    message = str(pre_gen.InvalidAnswer("project_name", "y" * 500, "rule"))
    assert len(message) < 120


def test_option_paths_name_only_known_options():
    assert set(post_gen.OPTION_PATHS) <= set(DEFAULTS)


def make_tree(root, relative_paths):
    for relative in relative_paths:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text("x", encoding="utf-8")


def test_prune_removes_unselected_paths_and_is_idempotent(tmp_path):
    make_tree(
        tmp_path,
        [
            "tests/unit/test_logging.py",
            "tests/unit/test_tracing.py",
            "tests/unit/test_metrics.py",
            ".github/workflows/ci.yml",
            "template.yaml",
        ],
    )
    answers = {**VALID, "tracing": False, "ci": "none"}

    post_gen.prune(tmp_path, answers)
    post_gen.prune(tmp_path, answers)

    remaining = sorted(
        p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()
    )
    assert remaining == [
        "template.yaml",
        "tests/unit/test_logging.py",
        "tests/unit/test_metrics.py",
    ]
    assert not (tmp_path / ".github").exists()


def test_prune_removes_a_folder_it_empties_and_keeps_one_with_other_files(tmp_path):
    make_tree(tmp_path, ["docs/monitoring.md", "tests/unit/test_logging.py"])
    post_gen.prune(tmp_path, {**VALID, "monitoring": False})
    assert not (tmp_path / "docs").exists()

    make_tree(tmp_path, ["docs/monitoring.md", "docs/other.md"])
    post_gen.prune(tmp_path, {**VALID, "monitoring": False})
    assert sorted(p.name for p in (tmp_path / "docs").iterdir()) == ["other.md"]
    assert (tmp_path / "tests" / "unit" / "test_logging.py").exists()


MAKEFILE_BUILD = [
    "hello_world/Makefile",
    "hello_world/build_function.py",
    "tests/unit/test_build_function.py",
]


def test_unselected_paths_for_defaults_and_all_off():
    layer_version_test = "tests/unit/test_layer_version.py"
    pip = {**VALID, "powertools_source": "pip"}
    assert post_gen.unselected_paths(pip) == [
        "docs/makefile-build.md",
        *MAKEFILE_BUILD,
        "docs/layer.md",
        layer_version_test,
        "docs/snapstart.md",
    ]
    everything = {
        **VALID,
        "build_method": "makefile",
        "powertools_source": "layer",
        "snapstart": True,
        "ci": "github",
    }
    assert post_gen.unselected_paths(everything) == []
    all_off = {**pip, **{k: False for k in BOOLEANS}, "ci": "none"}
    assert sorted(post_gen.unselected_paths(all_off)) == sorted(
        [
            layer_version_test,
            "docs/layer.md",
            ".github",
            "deploy-role.yaml",
            "docs/deploy.md",
            "docs/makefile-build.md",
            "docs/snapstart.md",
            "docs/monitoring.md",
            *MAKEFILE_BUILD,
            "tests/unit/test_logging.py",
            "tests/unit/test_metrics.py",
            "tests/unit/test_tracing.py",
        ]
    )


def test_next_steps_use_the_runtime_and_slug():
    answers = {**VALID, "runtime": "python3.12", "monitoring": False}
    steps = post_gen.next_steps(answers, windows=False)
    assert steps.splitlines()[1:] == [
        "  cd hello-powertools",
        "  python3.12 dev.py setup",
        "  python3.12 dev.py serve",
        "  python3.12 dev.py check",
    ]


def test_next_steps_on_windows_use_the_py_launcher():
    steps = post_gen.next_steps({**VALID, "runtime": "python3.12"}, windows=True)
    assert "  py -3.12 dev.py setup\n" in steps
    assert "python3.12" not in steps


@pytest.mark.parametrize("build", CHOICES["build_method"])
def test_next_steps_say_what_each_variant_needs(build):
    answers = {**VALID, "build_method": build, "monitoring": False}
    notes = post_gen.next_steps(answers).splitlines()[5:]
    expected = ["sam build runs hello_world/Makefile, which needs make."]
    assert notes == (expected if build == "makefile" else [])


@pytest.mark.parametrize("monitoring", [True, False])
def test_next_steps_say_to_confirm_the_alarm_subscription(monitoring):
    steps = post_gen.next_steps({**VALID, "monitoring": monitoring})
    assert ("subscribe an address" in steps and "confirm" in steps) == monitoring


def test_slug_fallback_is_what_cookiecutter_json_derives():
    assert f"'{pre_gen.SLUG_FALLBACK}'" in COOKIECUTTER_JSON["project_slug"]
