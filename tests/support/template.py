"""The template's own files (what a git repository of the template holds) and its
hooks imported as modules."""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from types import ModuleType

from matrix import ROOT

# The generated project's template, the template repository's README and CI.
PROJECT_TEMPLATE = ROOT / "{{cookiecutter.project_slug}}"
README = (ROOT / "README.md").read_text(encoding="utf-8")
TEMPLATE_WORKFLOW = ROOT / ".github" / "workflows" / "ci.yml"
# The files that make the template; everything else in the checkout is tooling.
TEMPLATE_PARTS = [
    "cookiecutter.json",
    "hooks",
    "templates",
    PROJECT_TEMPLATE.name,
]


def copy_template(destination: Path) -> Path:
    """The template's own files (TEMPLATE_PARTS), copied into a new directory: what
    a git repository of the template holds (cruft and `--checkout` need one)."""
    destination.mkdir(parents=True)
    for part in TEMPLATE_PARTS:
        source = ROOT / part
        if source.is_dir():
            shutil.copytree(
                source, destination / part, ignore=shutil.ignore_patterns("__pycache__")
            )
        else:
            shutil.copy2(source, destination / part)
    return destination


# --- the hooks, imported as modules: unrendered, their ANSWERS_JSON is a
# placeholder and main() does not run on import; tests call their functions with
# explicit answers.


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "hooks" / f"{name}.py")
    assert spec is not None and spec.loader is not None, name
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")
