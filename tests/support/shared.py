"""Work done once per run for every pytest-xdist worker, and for what lives under
.cache/, once across runs: once(), once_each(), SharedResults (a check's results per
distinct content), and the digests that key them."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable, Generator, Iterable
from contextlib import contextmanager
from pathlib import Path

from filelock import FileLock, Timeout

from matrix import ROOT
from support import timeline

CACHE = ROOT / ".cache"
# --- work shared between the processes of a run (pytest-xdist workers) and, for
# directories under .cache/, between runs: each unit is done once, by whichever
# process gets to it first; the others wait for it or do other units meanwhile.
# once() makes a directory (or file) under a lock beside it, a marker written
# last, so a half-made one left by an interrupted run is made again, never used.


Make = Callable[[Path], None]


def worker_count() -> int:
    """How many processes run this run's tests (pytest-xdist workers, or one)."""
    return int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))


def run_directory(tmp_path_factory) -> Path:
    """The pytest-xdist recipe: workers' base temporary directories share a parent
    that is new for each run; without xdist, the run's own base directory."""
    base = tmp_path_factory.getbasetemp()
    return base.parent if os.environ.get("PYTEST_XDIST_WORKER") else base


def _marker(target: Path) -> Path:
    return target.with_name(target.name + ".done")


def _lock(target: Path) -> FileLock:
    return FileLock(target.with_name(target.name + ".lock"))


@contextmanager
def held(lock: FileLock) -> Generator[None]:
    """The lock held; the time spent getting it (waiting for work another process
    is doing) on the run's timeline, support/timeline.py."""
    with timeline.waiting(lock.lock_file):
        lock.acquire()
    try:
        yield
    finally:
        lock.release()


def _complete(target: Path, stamp: str) -> bool:
    marker = _marker(target)
    return marker.exists() and marker.read_text(encoding="utf-8") == stamp


def _make_unless_complete(target: Path, make: Make, stamp: str) -> None:
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
        with held(_lock(target)):
            _make_unless_complete(target, make, stamp)
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
            _make_unless_complete(target, make, stamp)
        finally:
            lock.release()
    for target, make in busy:
        once(target, make, stamp)


def digest(text: str | bytes) -> str:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return hashlib.sha256(data).hexdigest()[:16]


def file_digest(path: Path) -> str:
    return digest(path.read_bytes())


class SharedResults:
    """A check's results, one JSON file per distinct content checked (key(path):
    by default the digest of the file's bytes) in a directory the run's workers
    share: each distinct content is checked once in the run, whichever worker and
    test asks first.

    compute({key: path, ...}) -> {key: result} checks many at a time (a tool's
    start-up is paid once per call). The keys fall into `buckets` by their digest,
    each with a lock: prefetch(paths) computes the missing keys of the buckets it
    can lock now, in calls of at least `batch` keys where it can (several buckets
    held at once), then waits for the others' and computes what is still missing;
    results(path) of content nobody checked yet waits for its bucket's lock and
    checks it alone. So the workers share a batch whatever subset each asks for
    (the buckets do not depend on it) and no key is computed twice. A worker waits
    at most for one call of another: one bucket where buckets hold `batch` keys or
    more, a whole small batch otherwise (then one call does it all).
    """

    def __init__(
        self,
        directory: Path,
        compute: Callable[[dict[str, Path]], dict[str, object]],
        key: Callable[[Path], str] = file_digest,
        buckets: int = 32,
        batch: int = 1,
    ):
        self.directory = directory
        self.compute = compute
        self.key = key
        self.buckets = buckets
        self.batch = batch

    def _file(self, key: str) -> Path:
        return self.directory / f"{key}.json"

    def _bucket(self, key: str) -> Path:
        """The lock file of the key's bucket."""
        return self.directory / f"bucket-{int(digest(key)[:8], 16) % self.buckets}.lock"

    def _bucket_lock(self, bucket: Path) -> FileLock:
        self.directory.mkdir(parents=True, exist_ok=True)
        return FileLock(bucket)

    def _compute(self, items: dict[str, Path]) -> None:
        """Under the items' bucket lock: compute the missing ones."""
        missing = {k: v for k, v in items.items() if not self._file(k).exists()}
        if not missing:
            return
        results = self.compute(missing)
        assert sorted(results) == sorted(missing), "results for other keys"
        for key, result in results.items():
            # Written aside, then renamed: a reader sees a whole file or none.
            partial = self.directory / f".{key}.{os.getpid()}"
            partial.write_text(json.dumps(result), encoding="utf-8")
            os.replace(partial, self._file(key))

    def prefetch(self, paths: Iterable[Path]) -> None:
        buckets: dict[Path, dict[str, Path]] = {}
        for path in paths:
            key = self.key(path)
            if not self._file(key).exists():
                buckets.setdefault(self._bucket(key), {})[key] = path
        busy, holding, items = [], [], {}
        for bucket, part in buckets.items():
            lock = self._bucket_lock(bucket)
            try:
                lock.acquire(blocking=False)
            except Timeout:
                busy.append((bucket, part))
                continue
            holding.append(lock)
            items.update(part)
            if len(items) >= self.batch:
                self._compute_releasing(items, holding)
                holding, items = [], {}
        self._compute_releasing(items, holding)
        for bucket, part in busy:
            with held(self._bucket_lock(bucket)):
                self._compute(part)

    def _compute_releasing(self, items: dict[str, Path], locks: list[FileLock]):
        try:
            if items:
                self._compute(items)
        finally:
            for lock in locks:
                lock.release()

    def __call__(self, path: Path):
        key = self.key(path)
        if not self._file(key).exists():
            with held(self._bucket_lock(self._bucket(key))):
                self._compute({key: path})
        return json.loads(self._file(key).read_text(encoding="utf-8"))
