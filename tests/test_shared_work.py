"""Work the pytest-xdist workers share is done once (support/shared.py): two
processes asking SharedResults for overlapping batches, and a third asking for one
result, compute each distinct content once between them, and every result is there
for each."""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import time
from pathlib import Path

import pytest

from matrix import ROOT
from support import timeline
from support.processes import run
from support.shared import SharedResults, digest


def logged_lengths(log: Path):
    """A compute function: each content's length, each key it computes appended to
    `log` (one write per line: appends from processes do not interleave)."""

    def compute(items: dict[str, Path]) -> dict[str, object]:
        results = {}
        for key, path in items.items():
            with log.open("a", encoding="utf-8") as out:
                out.write(key + "\n")
            time.sleep(0.01)  # long enough for the processes to overlap
            results[key] = len(path.read_bytes())
        return results

    return compute


def ask(directory: Path, log: Path, paths: list[Path], one: bool, batch: int) -> None:
    shared = SharedResults(directory, logged_lengths(log), buckets=8, batch=batch)
    if one:
        for path in paths:
            assert shared(path) == len(path.read_bytes())
        return
    shared.prefetch(paths)
    for path in paths:
        assert shared(path) == len(path.read_bytes())


@pytest.mark.parametrize("batch", [1, 25])
def test_overlapping_batches_compute_each_content_once(tmp_path, batch):
    files = []
    for number in range(120):
        path = tmp_path / "files" / f"{number}.txt"
        path.parent.mkdir(exist_ok=True)
        # 60 distinct contents, each in two files.
        path.write_text("x" * (number % 60), encoding="utf-8")
        files.append(path)
    log = tmp_path / "computed.log"
    directory = tmp_path / "results"
    context = multiprocessing.get_context("fork")
    askers = [
        context.Process(target=ask, args=(directory, log, files[:90], False, batch)),
        context.Process(target=ask, args=(directory, log, files[30:], False, batch)),
        context.Process(target=ask, args=(directory, log, files[::7], True, batch)),
    ]
    for process in askers:
        process.start()
    for process in askers:
        process.join(timeout=120)
        assert process.exitcode == 0
    computed = log.read_text(encoding="utf-8").split()
    distinct = {digest(path.read_bytes()) for path in files}
    assert sorted(computed) == sorted(distinct)  # each content once, all of them
    for path in files:
        stored = directory / f"{digest(path.read_bytes())}.json"
        assert json.loads(stored.read_text(encoding="utf-8")) == len(path.read_bytes())
    assert not [p for p in directory.iterdir() if p.name.startswith(".")], os.listdir(
        directory
    )


@pytest.mark.parametrize("batch", [100, 1])
def test_buckets_smaller_than_a_batch_are_computed_together(tmp_path, batch):
    """A tool with a start-up cost (checkov) gets one call for a small batch, not
    one per bucket; the calls of a batch of 1 follow the buckets."""
    files = []
    for number in range(20):
        path = tmp_path / f"{number}.txt"
        path.write_text("y" * number, encoding="utf-8")
        files.append(path)
    calls: list[int] = []

    def compute(items: dict[str, Path]) -> dict[str, object]:
        calls.append(len(items))
        return dict.fromkeys(items, 0)

    SharedResults(tmp_path / "results", compute, buckets=8, batch=batch).prefetch(files)
    assert sum(calls) == 20
    assert calls == [20] if batch == 100 else len(calls) > 1


def test_the_timeline_shows_each_test_of_a_run(tmp_path, capsys):
    """SUITE_TIMELINE (support/timeline.py): a run writes when each test ran, and
    the report shows it."""
    directory = tmp_path / "timeline"
    done = run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:xdist"]
        + ["-p", "no:cacheprovider", "tests/test_hooks.py", "-k", "slug"],
        cwd=ROOT,
        env={**os.environ, "SUITE_TIMELINE": str(directory)},
    )
    assert done.returncode == 0, done.stdout + done.stderr
    (written,) = directory.glob("*.json")
    tests = {nodeid for nodeid, _, _ in json.loads(written.read_text())["tests"]}
    assert tests and all(t.startswith("tests/test_hooks.py::") for t in tests)
    timeline.report(directory)
    shown = capsys.readouterr().out
    assert f"{len(tests)} tests" in shown
    assert any(t in shown for t in tests)
