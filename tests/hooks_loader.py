"""Import the hooks as modules. Unrendered, their ANSWERS_JSON is a placeholder and
main() does not run on import; tests call their functions with explicit answers."""

from __future__ import annotations

import importlib.util
from types import ModuleType

from matrix import ROOT


def load_hook(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, ROOT / "hooks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


pre_gen = load_hook("pre_gen_project")
post_gen = load_hook("post_gen_project")
