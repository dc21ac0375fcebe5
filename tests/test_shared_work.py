"""Work the pytest-xdist workers share is done once (support/shared.py): two
processes asking SharedResults for overlapping batches, and a third asking for one
result, compute each distinct content once between them, and every result is there
for each."""

from __future__ import annotations

import json
import multiprocessing
import os
import time
from pathlib import Path

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


def ask(directory: Path, log: Path, paths: list[Path], one: bool) -> None:
    shared = SharedResults(directory, logged_lengths(log), buckets=8)
    if one:
        for path in paths:
            assert shared(path) == len(path.read_bytes())
        return
    shared.prefetch(paths)
    for path in paths:
        assert shared(path) == len(path.read_bytes())


def test_overlapping_batches_compute_each_content_once(tmp_path):
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
        context.Process(target=ask, args=(directory, log, files[:90], False)),
        context.Process(target=ask, args=(directory, log, files[30:], False)),
        context.Process(target=ask, args=(directory, log, files[::7], True)),
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
