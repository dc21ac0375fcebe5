"""Bad answers fail through the real cookiecutter: a message naming the variable,
a non-zero exit, and no generated file left on disk."""

from __future__ import annotations

import pytest
from cookiecutter.exceptions import FailedHookException, OutputDirExistsException


def generated_files(output_dir):
    return [p for p in output_dir.rglob("*") if p.is_file()]


@pytest.mark.parametrize(
    ("answers", "variable"),
    [
        ({"project_name": ""}, "project_name"),
        ({"project_name": "   "}, "project_name"),
        ({"project_slug": "my service"}, "project_slug"),
        ({"project_slug": "my/service"}, "project_slug"),
        ({"metrics_namespace": "AWS/Lambda"}, "metrics_namespace"),
        ({"service_name": "bad name"}, "service_name"),
        ({"snapstart": True, "runtime": "python3.11"}, "snapstart"),
    ],
    ids=[
        "empty-name",
        "blank-name",
        "slug-space",
        "slug-slash",
        "namespace-aws",
        "service-space",
        "snapstart-python3.11",
    ],
)
def test_hook_rejects_with_message_and_leaves_nothing(
    cookies, capfd, tmp_path, answers, variable
):
    result = cookies.bake(extra_context=answers)

    assert result.exit_code != 0
    assert isinstance(result.exception, FailedHookException)
    err = capfd.readouterr().err
    assert f"ERROR: {variable}=" in err
    assert generated_files(tmp_path / "cookies") == []


@pytest.mark.parametrize(
    ("answers", "variable"),
    [({"runtime": "python3.9"}, "runtime"), ({"architecture": "i386"}, "architecture")],
)
def test_cookiecutter_rejects_unknown_choices_before_hooks(
    cookies, tmp_path, answers, variable
):
    result = cookies.bake(extra_context=answers)

    assert result.exit_code != 0
    assert isinstance(result.exception, ValueError)
    assert variable in str(result.exception) or list(answers.values())[0] in str(
        result.exception
    )
    assert generated_files(tmp_path / "cookies") == []


def test_dot_dot_slug_is_stopped_by_cookiecutter_before_hooks(cookies, tmp_path):
    # The project directory would be the output directory's parent, which exists:
    # cookiecutter refuses before any hook runs and writes nothing.
    result = cookies.bake(extra_context={"project_slug": ".."})

    assert result.exit_code != 0
    assert isinstance(result.exception, OutputDirExistsException)
    assert generated_files(tmp_path / "cookies") == []
