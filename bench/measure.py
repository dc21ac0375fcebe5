"""Measure: cold init, warm invoke and peak memory of subjects laid out as Lambda
runs them (layout.py), every subject in turn within each round so that a burst of
load on the machine hits them alike.

- cold init: wall time of a new process of the runtime's Python (`-S`: no site
  packages) that imports the handler module; one discarded round warms the page
  cache, then --runs rounds;
- peak RSS: that process's peak resident set (VmHWM, read by the process itself:
  the ru_maxrss wait4 reports carries over the forking parent's peak on Linux);
- warm invoke: one long-lived bench/warm.py process per subject calls
  lambda_handler with events/hello_name.json, --calls calls in --rounds rounds;
  each call is timed on its own, output discarded.
"""

from __future__ import annotations

import dataclasses
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from matrix import ROOT

from .subjects import Subject

EVENT = ROOT / "{{cookiecutter.project_slug}}" / "events" / "hello_name.json"
WORKER = Path(__file__).with_name("warm.py")
COLD_PROBE = """import app
try:
    with open("/proc/self/status") as status:
        peak = [line for line in status if line.startswith("VmHWM:")][0]
    import sys
    sys.stderr.write("@@" + peak.split()[1] + "\\n")
except OSError:
    pass
"""


@dataclasses.dataclass
class Target:
    """A subject laid out as Lambda runs it, and what was measured of it."""

    subject: Subject
    task: Path
    env: dict
    artifact_bytes: int
    layer_bytes: int | None
    cold_ms: list = dataclasses.field(default_factory=list)
    rss_kb: list = dataclasses.field(default_factory=list)
    warm_round_us: list = dataclasses.field(default_factory=list)
    warm_us: dict = dataclasses.field(default_factory=dict)

    def fail(self, message: str, output: str):
        sys.exit(f"bench: {self.subject.label}: {message}\n{output[-3000:]}")


def cold_once(target: Target, python: Path) -> None:
    start = time.perf_counter()
    process = subprocess.Popen(
        [python, "-S", "-c", COLD_PROBE],
        cwd=target.task,
        env=target.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    assert process.stderr is not None  # stderr=PIPE
    err = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if os.waitstatus_to_exitcode(status) != 0:
        target.fail("importing the handler failed", err)
    target.cold_ms.append(round(elapsed * 1000, 2))
    peaks = [line[2:] for line in err.splitlines() if line.startswith("@@")]
    target.rss_kb.append(int(peaks[-1]) if peaks else usage.ru_maxrss)


def cold(targets: list[Target], python: Path, runs: int) -> None:
    for round_number in range(runs + 1):
        for target in targets:
            cold_once(target, python)
            if round_number == 0:  # warms the page cache; not counted
                target.cold_ms.clear()
                target.rss_kb.clear()


class Worker:
    """A bench/warm.py process for one target."""

    def __init__(self, target: Target, python: Path, work: Path, *extra: str):
        self.target = target
        read, write = os.pipe()
        self.stderr = open(work / f"warm-{target.task.name}.err", "w+b")
        self.process = subprocess.Popen(
            [python, "-S", WORKER, EVENT, str(write), *extra],
            cwd=target.task,
            env=target.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            pass_fds=(write,),
            text=True,
        )
        os.close(write)
        assert self.process.stdin is not None  # stdin=PIPE
        self.stdin = self.process.stdin
        self.results = os.fdopen(read, "r")
        if (status := self.read()["status"]) != 200:
            self.fail(f"the event got {status}, not 200")

    def read(self):
        line = self.results.readline()
        return json.loads(line) if line else self.fail("the worker stopped")

    def fail(self, message: str):
        self.stderr.seek(0)
        self.target.fail(message, self.stderr.read().decode(errors="replace"))

    def chunk(self, calls: int) -> list[int]:
        self.stdin.write(f"{calls}\n")
        self.stdin.flush()
        return self.read()

    def close(self) -> None:
        self.stdin.close()
        self.process.wait()
        self.results.close()
        self.stderr.close()


def warm(targets: list[Target], python: Path, work: Path, rounds: int, calls: int):
    """Every target's worker imports once; then rounds of calls, interleaved."""
    workers = [Worker(t, python, work) for t in targets]
    timings: dict[int, list[int]] = {id(w): [] for w in workers}
    for _ in range(rounds):
        for worker in workers:
            chunk = worker.chunk(calls // rounds)
            timings[id(worker)] += chunk
            worker.target.warm_round_us.append(round(statistics.median(chunk) / 1e3, 2))
    for worker in workers:
        worker.close()
        q1, median, q3 = statistics.quantiles(timings[id(worker)], n=4)
        worker.target.warm_us = {
            k: round(v / 1e3, 2)
            for k, v in (("q1", q1), ("median", median), ("q3", q3))
        }


def profile(target: Target, python: Path, work: Path, calls: int, top: int) -> str:
    """cProfile over `calls` warm invocations, in the worker's process."""
    worker = Worker(target, python, work, "--profile", str(calls), str(top))
    report = worker.read()["profile"]
    worker.close()
    return report
