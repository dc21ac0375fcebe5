"""The Powertools layer's stand-in: the same Powertools version with [tracer],
installed for the local interpreter, and that content as the public layer ships it
(without what Powertools' layer build deletes)."""

from __future__ import annotations

import functools
import platform
import shutil
from pathlib import Path

from bench.layout import LAYER_REMOVES
from matrix import POWERTOOLS_VERSION
from support.environments import pip_install, require_interpreter
from support.shared import CACHE, once


@functools.cache
def layer_stand_in(runtime: str) -> Path:
    """The layer's content for the local interpreter: the same Powertools version
    with [tracer], installed once into .cache/ (kept between runs)."""
    python = require_interpreter(runtime)
    name = f"{POWERTOOLS_VERSION}-{runtime}-{platform.machine()}"
    return once(
        CACHE / "powertools-layer" / name,
        lambda target: pip_install(
            python, target, [f"aws-lambda-powertools[tracer]=={POWERTOOLS_VERSION}"]
        ),
    )


# What Powertools' own layer build deletes from its pip install: the SDK Lambda's
# runtime provides and its dependencies at the top level (LAYER_REMOVES, declared
# with the bench's stand-in for the layer), and bytecode everywhere.
NO_BYTECODE = ("__pycache__", "*.py[co]")


@functools.cache
def public_layer(runtime: str) -> Path:
    """/opt/python as the public Powertools layer ships it: layer_stand_in()
    (Powertools with [tracer]) without what the layer leaves out."""
    source = layer_stand_in(runtime)
    top = shutil.ignore_patterns(*LAYER_REMOVES, *NO_BYTECODE)
    below = shutil.ignore_patterns(*NO_BYTECODE)

    def ignore(directory: str, names: list[str]) -> set[str]:
        return (top if Path(directory) == source else below)(directory, names)

    def populate(target: Path) -> None:
        shutil.copytree(source, target, ignore=ignore, dirs_exist_ok=True)

    return once(source.with_name(source.name + "-public"), populate)
