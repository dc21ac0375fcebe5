"""The suite's renders are cookiecutter's: made in the workers' processes, with
Jinja's compiled templates kept and the hooks run in-process (support/renders.py),
they give what cookiecutter's CLI gives, and a hook has the outcome it has as the
process cookiecutter starts."""

from __future__ import annotations

import os
import sys

import pytest
from cookiecutter.exceptions import FailedHookException
from cookiecutter.hooks import run_script as cookiecutter_run_script

from matrix import DEFAULTS, ROOT
from support.processes import run, tool
from support.renders import baked_project, run_script_in_process, tree


@pytest.mark.parametrize("answers", [DEFAULTS, {**DEFAULTS, "tracing": False}])
def test_renders_with_cached_templates_equal_the_cookiecutter_cli(
    bake, tmp_path, answers
):
    """The suite's renders keep Jinja's compiled templates between renders
    (support/renders.py cache_compiled_templates()) and run the hooks in-process
    (hooks_in_process()): what they give is byte for byte what cookiecutter's own
    CLI, in a process of its own, gives."""
    words = [f"{key}={value}" for key, value in answers.items()]
    done = run(
        [tool("cookiecutter"), str(ROOT), "--no-input", "-o", str(tmp_path), *words]
    )
    assert done.returncode == 0, done.stderr
    (project,) = tmp_path.iterdir()
    assert tree(project) == tree(baked_project(bake, answers))


FAILED = "Hook script failed (exit status: {})"
HOOK_OUTCOMES = {
    "succeeds": ("open('written', 'w').write('here')\nprint('done')", None),
    "exits-0": ("import sys\nsys.exit(0)", None),
    "exits-3": ("import sys\nsys.exit(3)", FAILED.format(3)),
    "exits-256": ("import sys\nsys.exit(256)", None),
    "exits-minus-1": ("import sys\nsys.exit(-1)", FAILED.format(255)),
    "exits-true": ("import sys\nsys.exit(True)", FAILED.format(1)),
    "exits-with-text": ("import sys\nsys.exit('ERROR: x=y: no')", FAILED.format(1)),
    "raises": ("open('f', 'w').write('half')\nraise ValueError", FAILED.format(1)),
    "interrupted": ("raise KeyboardInterrupt", FAILED.format(-2)),
    "changes-the-process": (
        "import os, sys, tabnanny\nos.environ['HOOK'] = '1'\nos.chdir('/')\n"
        "sys.path.append('x')\nsys.stderr.reconfigure(errors='strict')",
        None,
    ),
}


@pytest.mark.parametrize(
    ("body", "error"), HOOK_OUTCOMES.values(), ids=HOOK_OUTCOMES.keys()
)
def test_hooks_run_in_process_as_cookiecutter_runs_them(tmp_path, capfd, body, error):
    """The suite's renders run the hooks in the worker's process
    (support/renders.py hooks_in_process()): a script there has the outcome it has
    as the process cookiecutter starts (hooks.run_script): the same exception and
    message, the same files written in the directory it runs in, the same output,
    and the last line of its error output (the message, or the traceback's error)."""
    outcomes = []
    for runner in (cookiecutter_run_script, run_script_in_process):
        directory = tmp_path / runner.__name__
        directory.mkdir()
        script = tmp_path / f"{runner.__name__}.py"
        script.write_text(body + "\n", encoding="utf-8")
        before = process_state()
        try:
            runner(str(script), directory)
            failure = None
        except FailedHookException as failed:
            failure = str(failed)
        assert process_state() == before, runner.__name__
        captured = capfd.readouterr()
        last_error = captured.err.strip().splitlines()[-1:]
        outcomes.append((failure, tree(directory), captured.out, last_error))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] == error


def process_state() -> tuple:
    """What a hook run in this process could leave changed."""
    return (
        os.getcwd(),
        list(sys.path),
        list(sys.argv),
        dict(os.environ),
        set(sys.modules),
        getattr(sys.stderr, "errors", None),
    )
