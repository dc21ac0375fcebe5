"""Every way docs/entry-points.md says a project can be generated, run for real:
the cookiecutter CLI, `sam init --location` from a pip-installed SAM CLI, the
refusal of the native (frozen) SAM CLI installers, and cookiecutter replay (cruft,
and rendering a release with --checkout: tests/test_release_rerender.py).

Tools run as `python -m <module>` with the interpreter running the tests: the pinned
versions installed beside it are the ones exercised, whichever interpreter the console
scripts' shebangs name.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from matrix import DEFAULTS, EVERYTHING_OFF, ROOT
from support.processes import python_m, run
from support.renders import baked_project, tree, working_copy

# What SAM CLI 1.170+ native installers print for this template (the docs quote it).
REFUSAL = (
    "Error: Cannot run the template hook pre_gen_project.py: this SAM CLI "
    "installation has no Python interpreter available to run it. To unblock, "
    "either re-install SAM CLI from pip, or remove the hook from the template."
)


@pytest.fixture
def env(cookiecutter_config) -> dict[str, str]:
    return {
        **os.environ,
        "COOKIECUTTER_CONFIG": str(cookiecutter_config),
        "SAM_CLI_TELEMETRY": "0",
    }


def cookiecutter_cli(output: Path, env: dict, *args: str) -> Path:
    python_m("cookiecutter", str(ROOT), "--output-dir", str(output), *args, env=env)
    return only_child(output)


def only_child(directory: Path) -> Path:
    children = list(directory.iterdir())
    assert len(children) == 1, f"expected one project in {directory}: {children}"
    return children[0]


# How SAM CLI starts: pip-installed (`python -m samcli`, as the `sam` script does),
# or as its PyInstaller bundle runs it (sys._MEIPASS set, which is what SAM CLI checks).
PIP_INSTALLED = ["-m", "samcli"]
FROZEN = [
    "-c",
    "import sys; sys.frozen = True; sys._MEIPASS = sys.prefix; "
    "from samcli.cli.main import cli; cli(prog_name='sam')",
]


def sam_init(
    output: Path, env: dict, *args: str, sam: list[str] = PIP_INSTALLED
) -> subprocess.CompletedProcess:
    return run(
        [
            sys.executable,
            *sam,
            "init",
            "--location",
            str(ROOT),
            "--no-input",
            "--output-dir",
            str(output),
            *args,
        ],
        env=env,
    )


# --- sam init (pip-installed SAM CLI) ----------------------------------------------


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(DEFAULTS, id="defaults"),
        pytest.param(EVERYTHING_OFF, id="all-off", marks=pytest.mark.slow),
    ],
)
def test_sam_init_generates_what_cookiecutter_generates(bake, tmp_path, env, answers):
    expected = baked_project(bake, answers)

    result = sam_init(tmp_path / "sam", env, "--extra-context", json.dumps(answers))

    assert result.returncode == 0, result.stdout + result.stderr
    # SAM adds nothing with --location: no samconfig of its own, no stray folders.
    generated = only_child(tmp_path / "sam")
    assert generated.name == expected.name == "hello-powertools"
    assert tree(generated) == tree(expected)
    # The post-generation hook ran (it prints the next steps).
    assert 'Next steps (README.md, "Quick start"):' in result.stdout


def test_sam_init_name_names_the_project(bake, tmp_path, env):
    """--name becomes project_name; the slug, service name and stack derive from it."""
    expected = baked_project(bake, {"project_name": "my-service"})

    result = sam_init(tmp_path / "sam", env, "--name", "my-service")

    assert result.returncode == 0, result.stdout + result.stderr
    generated = only_child(tmp_path / "sam")
    assert generated.name == "my-service"
    assert tree(generated) == tree(expected)
    answers = json.loads((generated / ".cookiecutter.json").read_text("utf-8"))
    assert answers["cookiecutter"]["project_slug"] == "my-service"
    assert 'stack_name = "my-service"' in (generated / "samconfig.toml").read_text(
        "utf-8"
    )


@pytest.mark.slow
def test_sam_init_name_that_is_not_a_slug_leaves_a_stray_samconfig(tmp_path, env):
    """SAM CLI assumes the project folder is <output>/<--name>: for a name that is not
    already a slug it writes its own samconfig.toml into a second folder. The docs
    therefore say: pass a slug to --name, or project_name in --extra-context."""
    result = sam_init(tmp_path / "sam", env, "--name", "My Service")

    assert result.returncode == 0, result.stdout + result.stderr
    assert sorted(p.name for p in (tmp_path / "sam").iterdir()) == [
        "My Service",
        "my-service",
    ]
    assert [p.name for p in (tmp_path / "sam" / "My Service").iterdir()] == [
        "samconfig.toml"
    ]

    # The alternative the docs give is clean.
    clean = sam_init(
        tmp_path / "clean", env, "--extra-context", '{"project_name": "My Service"}'
    )
    assert clean.returncode == 0, clean.stdout + clean.stderr
    assert only_child(tmp_path / "clean").name == "my-service"


# --- native SAM CLI installers (PyInstaller bundles) ----------------------------------


def test_hooks_are_python_files():
    """The deliberate choice the docs explain: Python hooks run under cookiecutter,
    cruft, pip/pipx/uv/Homebrew SAM CLI and the Windows MSI on every OS. An
    extensionless (shebang) hook would instead run under the native macOS/Linux
    installers and never on Windows; SAM CLI's refusal below only covers `.py`."""
    hooks = sorted(
        p.name for p in (ROOT / "hooks").iterdir() if p.name != "__pycache__"
    )
    assert hooks == ["post_gen_project.py", "pre_gen_project.py"]


def test_native_sam_cli_installer_refuses_loudly(tmp_path, env):
    """Runs SAM CLI's own init as its PyInstaller bundle does (sys._MEIPASS set, which
    is what SAM CLI checks): since 1.170 it refuses the .py hook with a remedy instead
    of generating an unvalidated, unpruned project, and leaves nothing behind."""
    output = tmp_path / "sam"

    result = sam_init(output, env, sam=FROZEN)

    assert result.returncode == 1, result.stdout + result.stderr
    assert REFUSAL in result.stderr
    assert "Traceback" not in result.stderr
    assert not output.exists() or not any(output.iterdir())


def test_frozen_sam_before_1_170_would_skip_the_hooks_silently(monkeypatch, cookies):
    """Why the docs warn about native installers older than 1.170: cookiecutter runs a
    .py hook as [sys.executable, hook], and there sys.executable is the sam binary,
    which exits 0 without running it (aws/aws-sam-cli PR #9211). Reproduced with a
    stand-in that does the same: a bad answer passes and nothing is pruned."""
    monkeypatch.setattr(sys, "executable", shutil.which("true"))

    result = cookies.bake(
        extra_context={"metrics": False, "service_name": "not valid"},
        template=str(ROOT),
    )

    assert result.exception is None, result.exception
    assert (result.project_path / "tests/unit/test_metrics.py").exists()


# --- cookiecutter replay (docs/entry-points.md: re-render)


REPLAYED = {
    **EVERYTHING_OFF,
    "project_name": "Order Service",
    "description": 'Orders, "quoted" and \\ escaped',
    "runtime": "python3.12",
    "architecture": "x86_64",
}


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param(DEFAULTS, id="defaults"),
        pytest.param(REPLAYED, id="all-off-custom", marks=pytest.mark.slow),
    ],
)
def test_replaying_the_recorded_answers_gives_the_same_tree(
    bake, tmp_path, env, answers
):
    first = baked_project(bake, answers)
    replay = str(first / ".cookiecutter.json")

    second = cookiecutter_cli(tmp_path / "second", env, "--replay-file", replay)

    assert tree(second) == tree(first)
    recorded = json.loads(Path(replay).read_text("utf-8"))["cookiecutter"]
    assert {k: recorded[k] for k in answers} == answers


def test_rerender_with_a_changed_answer_prunes(bake, tmp_path, env):
    """The docs: edit .cookiecutter.json, then re-render over the project with
    --replay-file .cookiecutter.json --overwrite-if-exists. Overwriting never
    deletes files; the post-generation hook prunes what the new answers drop."""
    project = working_copy(bake, DEFAULTS, tmp_path)
    assert (project / "tests/unit/test_metrics.py").exists()
    recorded = project / ".cookiecutter.json"
    answers = json.loads(recorded.read_text("utf-8"))
    answers["cookiecutter"]["metrics"] = False
    recorded.write_text(json.dumps(answers), encoding="utf-8")

    python_m(
        "cookiecutter",
        str(ROOT),
        "--replay-file",
        ".cookiecutter.json",
        "--overwrite-if-exists",
        "--output-dir",
        "..",
        cwd=project,
        env=env,
    )

    assert not (project / "tests/unit/test_metrics.py").exists()
    assert tree(project) == tree(baked_project(bake, {**DEFAULTS, "metrics": False}))


# --- the compatibility table (docs/entry-points.md) ----------------------------


def test_documented_entry_point_claims_match_these_tests():
    """Every test the compatibility table (docs/entry-points.md) cites exists, and the
    refusal it quotes is the one asserted above, so the table cannot claim more than
    the suite proves."""
    page = (ROOT / "docs" / "entry-points.md").read_text(encoding="utf-8")
    section = page[page.index("## Hooks and entry points") :]
    cited = set(re.findall(r"`(?:[\w.]+::)?(test_\w+)`", section))
    defined = {
        name
        for path in (ROOT / "tests").glob("test_*.py")
        for name in re.findall(r"^def (test_\w+)", path.read_text("utf-8"), re.M)
    }
    assert cited, "no test cited"
    assert cited <= defined, sorted(cited - defined)
    quoted = " ".join(
        line.removeprefix("> ") for line in section.splitlines() if line.startswith(">")
    )
    assert quoted == REFUSAL
