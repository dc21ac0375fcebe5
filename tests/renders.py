"""The template rendered by the real cookiecutter (hooks included), once per set of
answers for the whole test run, shared by every pytest-xdist worker; and the
distinct renderings of one generated file over many combinations, so that an
expensive check of that file runs once per distinct content.

Renderings are read-only: a test that writes in a project copies it first
(conftest.working_copy).
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cookiecutter.main import cookiecutter

from matrix import COOKIECUTTER_JSON, ROOT
from shared import digest, once, once_each


@dataclass(frozen=True)
class Bake:
    """What a render gave: the project, or the error that stopped cookiecutter."""

    project_path: Path | None
    exception: str | None

    @property
    def exit_code(self) -> int:
        return 0 if self.exception is None else -1


@dataclass(frozen=True)
class Rendering:
    """One distinct content of a generated file, and the combinations giving it."""

    digest: str
    path: Path  # the file in the first combination's project
    combinations: tuple[dict, ...]


class Renders:
    """Renders into `directory` (shared by the run's workers), one subdirectory per
    set of answers. Calling it with answers returns the Bake for them."""

    def __init__(self, directory: Path, config_file: Path):
        self.directory = directory
        self.config_file = config_file

    def _target(self, answers: dict) -> Path:
        unknown = set(answers) - set(COOKIECUTTER_JSON)
        # Cookiecutter silently ignores unknown keys: a typo would test the defaults.
        assert not unknown, f"not in cookiecutter.json: {sorted(unknown)}"
        return self.directory / digest(json.dumps(answers, sort_keys=True))

    def _make(self, answers: dict):
        def make(target: Path) -> None:
            output = target / "out"
            output.mkdir(parents=True)
            try:
                cookiecutter(
                    str(ROOT),
                    no_input=True,
                    extra_context=dict(answers),
                    output_dir=str(output),
                    config_file=str(self.config_file),
                )
            except Exception as error:  # reported by every test that uses it
                shutil.rmtree(output, ignore_errors=True)
                (target / "error.txt").write_text(
                    f"{type(error).__name__}: {error}", encoding="utf-8"
                )

        return make

    def _result(self, target: Path) -> Bake:
        error = target / "error.txt"
        if error.exists():
            return Bake(None, error.read_text(encoding="utf-8"))
        (project,) = (target / "out").iterdir()
        return Bake(project, None)

    def __call__(self, answers: dict) -> Bake:
        return self._result(once(self._target(answers), self._make(answers)))

    def render_all(self, combinations: Iterable[dict]) -> list[Bake]:
        """Every combination rendered, the work shared with the other workers."""
        combinations = list(combinations)
        targets = [self._target(answers) for answers in combinations]
        once_each(
            (target, self._make(answers))
            for target, answers in zip(targets, combinations, strict=True)
        )
        return [self._result(target) for target in targets]

    def distinct(self, relative: str, combinations: Iterable[dict]) -> list[Rendering]:
        """The distinct contents of the generated file `relative` (a path inside the
        project) over these combinations, each with the combinations that give it,
        in the order first met. Combinations without the file are left out; a
        combination that fails to render fails here."""
        combinations = list(combinations)
        groups: dict[str, list[dict]] = {}
        paths: dict[str, Path] = {}
        for answers, bake in zip(
            combinations, self.render_all(combinations), strict=True
        ):
            assert bake.exception is None, (answers, bake.exception)
            path = bake.project_path / relative
            if not path.is_file():
                continue
            key = digest(path.read_bytes())
            groups.setdefault(key, []).append(answers)
            paths.setdefault(key, path)
        return [Rendering(key, paths[key], tuple(groups[key])) for key in groups]
