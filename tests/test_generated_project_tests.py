"""Each combination of the options that change the generated Python runs the
generated project's own test suite, in an environment built from its own
requirements-dev.txt (one environment per distinct set of requirements)."""

from __future__ import annotations

import pytest

from conftest import baked_project, clean_environment, run, working_copy
from matrix import code_matrix, combination_id

CODE_COMBINATIONS = [
    pytest.param(answers, id=combination_id(answers)) for answers in code_matrix()
]


@pytest.mark.slow
@pytest.mark.parametrize("answers", CODE_COMBINATIONS)
def test_generated_unit_tests_pass(bake, project_envs, tmp_path, answers):
    project = working_copy(bake, answers, tmp_path)
    python = project_envs.python_for(project)

    result = run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rs"],
        cwd=project,
        # No __pycache__ in the shared bake: test_generation checks its exact files.
        env={**clean_environment(), "PYTHONDONTWRITEBYTECODE": "1"},
    )

    assert result.returncode == 0, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert " passed" in summary and "failed" not in summary, summary
    # The integration tests skip, saying why, when no stack is deployed.
    assert "AWS_SAM_STACK_NAME" in result.stdout


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
