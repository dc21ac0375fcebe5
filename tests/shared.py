"""Work shared between the processes of a test run (pytest-xdist workers) and, for
directories under .cache/, between runs: each unit is done once, by whichever
process gets to it first; the others wait for it or do other units meanwhile.

- run_directory(): a directory shared by every worker of this run, and only of it.
- once(): make a directory (or file) once: a lock beside it, a marker written last,
  so a half-made one left by an interrupted run is made again, never used.
- once_each(): many of those, shared out between the processes that ask at the
  same time (a unit another process holds is left to it and waited for at the end).
- shared_results(): a batch computation (one tool run over many files) split into
  chunks that are each computed once, with JSON results every process reads.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Iterable
from pathlib import Path

from filelock import FileLock, Timeout

Make = Callable[[Path], None]


def run_directory(tmp_path_factory) -> Path:
    """The pytest-xdist recipe: workers' base temporary directories share a parent
    that is new for each run; without xdist, the run's own base directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".done")


def _lock(target: Path) -> FileLock:
    return FileLock(target.with_name(target.name + ".lock"))


def _complete(target: Path, stamp: str) -> bool:
    marker = _marker(target)
    return marker.exists() and marker.read_text(encoding="utf-8") == stamp


def _make(target: Path, make: Make, stamp: str) -> None:
    """Under the target's lock: make it unless complete."""
    if _complete(target, stamp):
        return
    _marker(target).unlink(missing_ok=True)
    if target.is_dir() and not target.is_symlink():
        shutil.rmtree(target)
    elif target.exists() or target.is_symlink():
        target.unlink()
    make(target)
    _marker(target).write_text(stamp, encoding="utf-8")


def once(target: Path, make: Make, stamp: str = "") -> Path:
    """`target`, made by make(target) unless a complete one made with this stamp
    (e.g. the pins it was installed from) exists. Concurrent callers wait for the
    one making it."""
    if not _complete(target, stamp):
        target.parent.mkdir(parents=True, exist_ok=True)
        with _lock(target):
            _make(target, make, stamp)
    return target


def once_each(jobs: Iterable[tuple[Path, Make]], stamp: str = "") -> None:
    """Make every target once, sharing the work with any other process doing the
    same: a target whose lock is taken is skipped, then waited for at the end."""
    busy = []
    for target, make in jobs:
        if _complete(target, stamp):
            continue
        target.parent.mkdir(parents=True, exist_ok=True)
        lock = _lock(target)
        try:
            lock.acquire(blocking=False)
        except Timeout:
            busy.append((target, make))
            continue
        try:
            _make(target, make, stamp)
        finally:
            lock.release()
    for target, make in busy:
        once(target, make, stamp)


def digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def shared_results(
    directory: Path,
    name: str,
    keys: Iterable[str],
    compute: Callable[[list[str]], dict[str, object]],
    chunks: int = 8,
    smallest: int = 32,
) -> dict[str, object]:
    """compute(some keys) -> {key: JSON-serialisable result} for every key, the
    keys split into at most `chunks` chunks of at least `smallest` keys (a tool's
    start-up is paid once per chunk), each computed once, by whichever process
    takes it first. Every caller gets the results for all the keys."""
    keys = sorted(set(keys))
    size = max(smallest, -(-len(keys) // chunks))
    parts = [keys[i : i + size] for i in range(0, len(keys), size)]

    def job(part: list[str]) -> tuple[Path, Make]:
        def make(target: Path) -> None:
            results = compute(part)
            assert sorted(results) == part, f"{name}: results for other keys"
            target.write_text(json.dumps(results), encoding="utf-8")

        return directory / f"{name}-{digest(chr(10).join(part))}.json", make

    jobs = [job(part) for part in parts]
    once_each(jobs)
    results: dict[str, object] = {}
    for target, _ in jobs:
        results.update(json.loads(target.read_text(encoding="utf-8")))
    return results
