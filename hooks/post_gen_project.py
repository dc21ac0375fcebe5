"""Prune what the answers did not select, then print the next steps.

The one declaration of which generated paths belong to which answer is OPTION_PATHS
below; everything else in the template is generated for every answer. Standard
library only; idempotent (cruft update runs it again); importable by tests.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

# Replaced by cookiecutter with the answers; left as is when tests import this file.
ANSWERS_JSON = r"""{{ cookiecutter | tojson }}"""
# {% raw %} Nothing below is rendered by Jinja.

# option -> {value that keeps the paths: paths relative to the project root}. A path
# listed under several options is kept only when every one of them keeps it.
OPTION_PATHS: dict[str, dict[object, tuple[str, ...]]] = {
    "logging": {True: ("tests/unit/test_logging.py",)},
    "tracing": {True: ("tests/unit/test_tracing.py",)},
    "metrics": {True: ("tests/unit/test_metrics.py",)},
    "monitoring": {True: ("docs/monitoring.md",)},
    "build_method": {
        "makefile": (
            "docs/makefile-build.md",
            "hello_world/Makefile",
            "hello_world/build_function.py",
            "tests/unit/test_build_function.py",
        )
    },
    "powertools_source": {
        "layer": ("docs/layer.md", "tests/unit/test_layer_version.py")
    },
    "snapstart": {True: ("docs/snapstart.md",)},
    "ci": {
        "github": (
            ".github",
            "deploy-role.yaml",
            "docs/deploy.md",
            "requirements-sam.in",
        )
    },
}


def unselected_paths(answers: dict) -> list[str]:
    """The paths that belong to option values the answers did not pick, once each."""
    unselected = (
        path
        for option, owned in OPTION_PATHS.items()
        for value, paths in owned.items()
        if answers[option] != value
        for path in paths
    )
    return list(dict.fromkeys(unselected))


def prune(project: Path, answers: dict) -> None:
    for relative in unselected_paths(answers):
        path = project / relative
        if path.is_dir():
            shutil.rmtree(path)
        elif path.exists():
            path.unlink()
        # A folder left empty (docs/ when no page of it was selected) goes too.
        if path.parent != project and path.parent.is_dir():
            if not any(path.parent.iterdir()):
                path.parent.rmdir()


def next_steps(answers: dict, windows: bool = os.name == "nt") -> str:
    """README.md's Quick start: set up, serve the API locally, check."""
    slug = answers["project_slug"]
    version = answers["runtime"].replace("python", "")
    python = f"py -{version}" if windows else f"python{version}"
    steps = [
        f'Created {slug}/. Next steps (README.md, "Quick start"):',
        f"  cd {slug}",
        f"  {python} dev.py setup",
        f"  {python} dev.py serve",
        f"  {python} dev.py check",
    ]
    if answers["build_method"] == "makefile":
        steps.append("sam build runs hello_world/Makefile, which needs make.")
    if answers["monitoring"]:
        steps.append(
            "Alarms go to an SNS topic: after the first deploy, subscribe an address"
            " to it and confirm (docs/monitoring.md)."
        )
    return "\n".join(steps)


def main() -> int:
    answers = json.loads(ANSWERS_JSON)
    prune(Path.cwd(), answers)
    print(next_steps(answers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
# {% endraw %}
