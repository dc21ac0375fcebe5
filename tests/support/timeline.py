"""Where a run's time goes: with SUITE_TIMELINE naming a directory, each pytest-xdist
worker writes there when each of its tests ran and how long it waited for work
another worker was doing (support/shared.py), and

    python tests/support/timeline.py DIRECTORY

prints each worker's busy time, its longest tests and its waits. For example
`SUITE_TIMELINE=/tmp/timeline bash .ci/run` (nox passes the variable on)."""

from __future__ import annotations

import atexit
import json
import os
import sys
import time
from collections.abc import Generator
from contextlib import contextmanager
from pathlib import Path

DIRECTORY = os.environ.get("SUITE_TIMELINE")
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "main")
TESTS: list[tuple[str, float, float]] = []
WAITS: list[tuple[str, float, float]] = []


def record_phase(report) -> None:
    """A test's phase (setup, call, teardown) as it ran in this process; not the
    reports pytest-xdist's controller gets from its workers (they carry `node`)."""
    if DIRECTORY and getattr(report, "node", None) is None:
        TESTS.append((report.nodeid, report.start, report.stop))


@contextmanager
def waiting(what: Path | str) -> Generator[None]:
    """Time spent here counts as waiting for `what` (a lock another worker holds)."""
    started = time.time()
    try:
        yield
    finally:
        if DIRECTORY and time.time() - started > 0.5:
            WAITS.append((str(what), started, time.time() - started))


def _write() -> None:
    if DIRECTORY and TESTS:
        out = Path(DIRECTORY)
        out.mkdir(parents=True, exist_ok=True)
        data = {"tests": TESTS, "waits": WAITS}
        (out / f"{WORKER}.json").write_text(json.dumps(data), encoding="utf-8")


atexit.register(_write)


def report(directory: Path, longest: int = 15) -> None:
    workers = {p.stem: json.loads(p.read_text()) for p in directory.glob("*.json")}
    start = min(s for data in workers.values() for _, s, _ in data["tests"])
    for worker, data in sorted(workers.items()):
        spans: dict[str, list[float]] = {}
        for nodeid, began, ended in data["tests"]:
            span = spans.setdefault(nodeid, [began, ended])
            span[0], span[1] = min(span[0], began), max(span[1], ended)
        busy = sum(ended - began for began, ended in spans.values())
        end = max(ended for _, ended in spans.values()) - start
        print(f"{worker}: {len(spans)} tests, busy {busy:.0f} s, done at {end:.0f} s")
        top = sorted(spans.items(), key=lambda item: item[1][0] - item[1][1])
        for nodeid, (began, ended) in sorted(top[:longest], key=lambda i: i[1][0]):
            print(f"  {began - start:5.0f} s +{ended - began:5.1f} s  {nodeid}")
        for what, began, seconds in data["waits"]:
            print(f"  {began - start:5.0f} s waited {seconds:5.1f} s for {what}")


if __name__ == "__main__":
    report(Path(sys.argv[1]))
