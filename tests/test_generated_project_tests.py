"""Each combination of the options that change the generated Python runs the
generated project's own test suite, and its type checker as `dev.py check` runs it,
in an environment built from its own requirements-dev.txt (one environment per
distinct set of requirements).

The defaults' suite runs in the fast loop too: the behaviours users care most
about (the decoded name, no internals in a 500, nothing of one caller in the next
invocation's records) are tested there, in process, on one rendering."""

from __future__ import annotations

import pytest

from matrix import DEFAULTS, code_matrix, combination_id, values
from support.processes import clean_environment, run
from support.renders import baked_project, working_copy

# What build_method=makefile adds to a rendering: the same files whatever the other
# code options (checked below), tested by the generated test_build_function.py.
MAKEFILE_FILES = {
    "hello_world/Makefile",
    "hello_world/build_function.py",
    "tests/unit/test_build_function.py",
}


def suites() -> list[dict]:
    """code_matrix() with build_method=makefile once per powertools_source: every
    other file of a makefile rendering is the pip build's (checked below), so its
    other tests are the ones the pip build's run already ran."""
    makefile = [
        {**DEFAULTS, "build_method": "makefile", "powertools_source": source}
        for source in values("powertools_source")
    ]
    pip = [a for a in code_matrix() if a["build_method"] != "makefile"]
    return [*pip, *makefile]


CODE_COMBINATIONS = [
    pytest.param(
        a, id=combination_id(a), marks=() if a == DEFAULTS else pytest.mark.slow
    )
    for a in suites()
]


def python_files(project) -> dict[str, bytes]:
    return {
        p.relative_to(project).as_posix(): p.read_bytes()
        for p in project.rglob("*")
        if p.is_file()
        and (p.suffix == ".py" or p.name in ("Makefile", "requirements-dev.txt"))
    }


@pytest.mark.slow
@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(a, id=combination_id(a))
        for a in code_matrix()
        if a["build_method"] == "makefile"
    ],
)
def test_the_makefile_build_changes_no_other_python(bake, answers):
    """Why suites() runs build_method=makefile's generated tests only twice."""
    makefile = python_files(baked_project(bake, answers))
    pip = python_files(baked_project(bake, {**answers, "build_method": "pip"}))
    assert set(makefile) - set(pip) == MAKEFILE_FILES
    assert {k: v for k, v in makefile.items() if k not in MAKEFILE_FILES} == pip
    reference = {**DEFAULTS, "build_method": "makefile"}
    assert {f: makefile[f] for f in MAKEFILE_FILES} == {
        f: python_files(baked_project(bake, reference))[f] for f in MAKEFILE_FILES
    }


@pytest.mark.parametrize("answers", CODE_COMBINATIONS)
def test_generated_unit_tests_pass(bake, project_envs, tmp_path, answers):
    project = working_copy(bake, answers, tmp_path)
    python = project_envs.python_for(project)

    result = run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rfs"],
        cwd=project,
        # No __pycache__ in the shared bake: test_generation checks its exact files.
        env={**clean_environment(), "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    # The integration tests skip, saying why, when no stack is deployed.
    assert "AWS_SAM_STACK_NAME" in result.stdout


def type_check(project, python):
    """`ty check` as the project's dev.py check runs it, with that environment."""
    return run(
        [str(python), "-m", "ty", "check", "--python", str(python.parents[1])],
        cwd=project,
        env=clean_environment(),
    )


@pytest.mark.parametrize("answers", CODE_COMBINATIONS)
def test_generated_code_type_checks(bake, project_envs, tmp_path, answers):
    """The type checker over dev.py, the function and the tests (pyproject.toml
    [tool.ty.src]); not blind: a wrong type put into app.py fails it there."""
    project = working_copy(bake, answers, tmp_path)
    python = project_envs.python_for(project)
    checked = type_check(project, python)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "All checks passed" in checked.stdout
    if answers != DEFAULTS:
        return
    with (project / "hello_world" / "app.py").open("a", encoding="utf-8") as app:
        app.write('\n\ndef wrong() -> int:\n    return "not an int"\n')
    checked = type_check(project, python)
    assert checked.returncode == 1, checked.stdout
    assert "--> hello_world/app.py:" in checked.stdout, checked.stdout
    assert "expected `int`" in checked.stdout, checked.stdout


@pytest.mark.slow
def test_bundled_powertools_without_tracing_lacks_the_xray_sdk(bake, project_envs):
    """The environment for pip + no tracing mirrors what sam build bundles: without
    the [tracer] extra there is no aws_xray_sdk, so an accidental Tracer import in
    that combination fails its tests instead of passing on a richer environment."""
    answers = next(
        a for a in code_matrix() if a["powertools_source"] == "pip" and not a["tracing"]
    )
    python = project_envs.python_for(baked_project(bake, answers))
    probe = run([str(python), "-c", "import aws_xray_sdk"])
    assert probe.returncode != 0
    assert "No module named 'aws_xray_sdk'" in probe.stderr
