"""Cold init, warm invoke, artifact size and peak memory of the generated function,
side by side with the Powertools tutorial's final app and a bare handler.

Run from the repository root with the repository's tools (README, "Performance"):

    .venv/bin/python bench/run.py            # the full table, a few minutes
    .venv/bin/python bench/run.py --quick    # three subjects, a smoke run

Every subject is built by `sam build` (each generated project with its own
template.yaml, so also by its Makefile for build_method=makefile), then measured:

- cold init: wall time of a whole new process of the runtime's interpreter
  (`-S`: no site packages) that imports the handler module, from read-only
  copies, with PYTHONDONTWRITEBYTECODE=1, the sys.path Lambda lays out (task
  directory, then the layer's /opt/python, then a "runtime" directory where
  boto3 and botocore are installed with their bytecode as in /var/runtime), and
  Lambda's environment variables plus the function's own from its template;
  the median of --runs rounds, subjects interleaved within each round;
- peak memory: peak resident set (VmHWM) of those processes (median);
- warm invoke: median time of one lambda_handler call, in-process, over --calls
  calls of the API Gateway event events/hello_name.json, output discarded, in
  rounds interleaved across subjects (one long-lived process per subject);
- artifact: bytes of the function's build output, and of the layer's contents
  where the function uses the Powertools layer.

Standard library plus the tools in the repository's .venv (cookiecutter, SAM CLI).
Writes bench/results/RESULTS.md (and the JSON beside it); --readme also puts the
table into README.md between the bench markers.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import datetime
import itertools
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
COOKIECUTTER_JSON = json.loads((ROOT / "cookiecutter.json").read_text("utf-8"))
POWERTOOLS = COOKIECUTTER_JSON["_powertools_version"]
BOTO3 = COOKIECUTTER_JSON["_boto3_version"]
README_START = "<!-- bench:start -->"
README_END = "<!-- bench:end -->"
TRACE_HEADER = (
    "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1"
)
# What the Powertools layer's build removes after `pip install` (its
# layer_v3/docker/Dockerfile): the runtime already has them.
LAYER_REMOVES = ("boto", "s3transfer", "dateutil", "python_dateutil", "urllib3", "six")
LAYER_REMOVES += ("jmespath",)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def run(command: list[str], **kwargs) -> None:
    result = subprocess.run(command, capture_output=True, text=True, **kwargs)
    if result.returncode != 0:
        sys.exit(
            f"failed ({result.returncode}): {' '.join(command)}\n"
            f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}"
        )


def interpreter(runtime: str) -> Path:
    """The runtime's Python (python3.X on PATH, else pyenv's), resolved to the real
    executable: pyenv shims on PATH may not run, and sam build needs the real one."""
    name = runtime  # "python3.13" is also the executable's name
    candidates = [shutil.which(name)]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True)
        version = runtime.removeprefix("python")
        found = Path(root.stdout.strip()).glob(f"versions/{version}*/bin/{name}")
        candidates += [str(p) for p in sorted(found, reverse=True)]
    for candidate in filter(None, candidates):
        probe = subprocess.run(
            [candidate, "-c", "import sys; print(sys.executable)"],
            capture_output=True,
            text=True,
        )
        if probe.returncode == 0:
            return Path(probe.stdout.strip())
    sys.exit(f"{name} not found on PATH (nor in pyenv): install it to benchmark")


def host_architecture() -> str:
    machine = platform.machine().lower()
    return "arm64" if machine in ("arm64", "aarch64") else "x86_64"


def tree_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def make_read_only(path: Path) -> None:
    for p in [path, *path.rglob("*")]:
        p.chmod(0o555 if p.is_dir() else 0o444)


def make_writable(path: Path) -> None:
    if path.exists():
        for p in [path, *path.rglob("*")]:
            p.chmod(0o755 if p.is_dir() else 0o644)


def fresh(path: Path) -> Path:
    make_writable(path)
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


class Subject:
    def __init__(self, name: str, project: Path, answers: dict | None = None):
        self.name = name
        self.project = project
        self.answers = answers or {}
        self.task: Path | None = None
        self.layer = bool(self.answers.get("powertools_source") == "layer")
        self.environment: dict[str, str] = {}
        self.cold_ms: list[float] = []
        self.rss_kb: list[int] = []
        self.warm: dict = {}
        self.artifact_bytes = 0
        self.layer_bytes = 0


@contextlib.contextmanager
def quiet_stdout():
    """Send file descriptor 1 (also a subprocess's) to /dev/null for a while."""
    sys.stdout.flush()
    saved = os.dup(1)
    with open(os.devnull, "w") as devnull:
        os.dup2(devnull.fileno(), 1)
    try:
        yield
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def generated_subjects(work: Path, runtime: str, arch: str, quick: bool) -> list:
    from cookiecutter.main import cookiecutter

    keys = ["logging", "tracing", "metrics", "powertools_source", "build_method"]
    values = [[True, False]] * 3 + [["pip", "layer"], ["pip", "makefile"]]
    combos = [dict(zip(keys, c, strict=True)) for c in itertools.product(*values)]
    if "build_method" not in COOKIECUTTER_JSON:  # before the option existed
        combos = [c for c in combos if c.pop("build_method") == "pip"]
    if quick:
        combos = [c for c in combos if c["logging"] and c["tracing"] and c["metrics"]]
        combos = [c for c in combos if c["powertools_source"] == "pip"]
    subjects = []
    for combo in combos:
        parts = [k[0].upper() for k in ("logging", "tracing", "metrics") if combo[k]]
        name = "+".join(parts) or "none"
        name = f"{name} {combo['powertools_source']}"
        if combo.get("build_method", "pip") != "pip":
            name += f" {combo['build_method']}"
        slug = "gen-" + name.replace("+", "").replace(" ", "-").lower()
        answers = {
            **combo,
            "project_slug": slug,
            "runtime": runtime,
            "architecture": arch,
            "ci": "none",
        }
        out = work / "projects"
        with quiet_stdout():  # the post-gen hook prints next steps
            project = Path(
                cookiecutter(
                    str(ROOT),
                    no_input=True,
                    extra_context=answers,
                    output_dir=str(out),
                    overwrite_if_exists=True,
                )
            )
        subjects.append(Subject(name, project, answers))
    return subjects


def fixture_subject(name: str, source: Path, work: Path, runtime: str, arch: str):
    project = work / "projects" / source.name
    shutil.rmtree(project, ignore_errors=True)
    shutil.copytree(source, project)
    for template in project.rglob("*.in"):
        text = template.read_text("utf-8").format(
            runtime=runtime, architecture=arch, version=POWERTOOLS
        )
        template.with_suffix("").write_text(text, "utf-8")
        template.unlink()
    if not (project / "hello_world" / "requirements.txt").exists():
        (project / "hello_world" / "requirements.txt").write_text("", "utf-8")
    return Subject(name, project)


def sam_build(subject: Subject, python: Path) -> None:
    env = {
        **os.environ,
        "SAM_CLI_TELEMETRY": "0",
        "PATH": f"{python.parent}{os.pathsep}{os.environ['PATH']}",
    }
    sam = Path(sys.executable).parent / "sam"
    build_dir = subject.project / ".aws-sam" / "build"
    run(
        [str(sam), "build", "--build-dir", str(build_dir), "--no-cached"],
        cwd=subject.project,
        env=env,
    )


def function_environment(subject: Subject) -> dict[str, str]:
    """The Environment.Variables template.yaml gives the function."""
    from samcli.yamlhelper import yaml_parse

    template = yaml_parse(
        (subject.project / ".aws-sam" / "build" / "template.yaml").read_text("utf-8")
    )
    function = template["Resources"]["HelloWorldFunction"]["Properties"]
    variables = function.get("Environment", {}).get("Variables", {})
    return {k: str(v) for k, v in variables.items()}


def build_runtime_dir(python: Path, work: Path) -> Path:
    """boto3 and botocore installed normally, bytecode included, as /var/runtime."""
    runtime = work / "runtime"
    marker = runtime / f".boto3-{BOTO3}-{python.name}"
    if not marker.exists():
        fresh(runtime)
        run(
            [str(python), "-m", "pip", "install", "--quiet", "--target", str(runtime)]
            + ["--disable-pip-version-check", f"boto3=={BOTO3}"]
        )
        marker.write_text("", "utf-8")
    return runtime


def build_layer_dir(python: Path, work: Path, arch: str, bytecode: str) -> Path:
    """The Powertools layer's /opt/python: the same version with [tracer], built
    the way the public layer is (boto3, botocore and their dependencies removed),
    with bytecode as --layer-bytecode says."""
    layer = work / f"layer-{bytecode}"
    marker = layer / f".powertools-{POWERTOOLS}-{python.name}-{arch}"
    if not marker.exists():
        target = fresh(layer) / "python"
        version = python.name.removeprefix("python")
        run(
            [str(python), "-m", "pip", "install", "--quiet", "--no-compile"]
            + ["--disable-pip-version-check", "--target", str(target)]
            + ["--platform", f"manylinux2014_{platform_machine(arch)}"]
            + ["--implementation", "cp", "--python-version", version]
            + ["--only-binary=:all:", f"aws-lambda-powertools[tracer]=={POWERTOOLS}"]
        )
        for entry in target.iterdir():
            if entry.name.lower().startswith(LAYER_REMOVES):
                shutil.rmtree(entry) if entry.is_dir() else entry.unlink()
        if bytecode != "none":
            run(
                [str(python), "-m", "compileall", "-q", "-j", "0"]
                + ["--invalidation-mode", bytecode, str(target)]
            )
        marker.write_text("", "utf-8")
    return layer / "python"


def platform_machine(arch: str) -> str:
    return "aarch64" if arch == "arm64" else "x86_64"


def lambda_environment(subject: Subject, runtime: str, task: Path, extra_path: list):
    env = {
        "PATH": "/usr/local/bin:/usr/bin:/bin",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PYTHONDONTWRITEBYTECODE": "1",
        "PYTHONPATH": os.pathsep.join(str(p) for p in extra_path),
        "LAMBDA_TASK_ROOT": str(task),
        "LAMBDA_RUNTIME_DIR": str(extra_path[-1]),
        "_HANDLER": "app.lambda_handler",
        "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}",
        "AWS_LAMBDA_FUNCTION_NAME": "HelloWorldFunction",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/HelloWorldFunction",
        "AWS_LAMBDA_LOG_STREAM_NAME": "2026/11/26/[$LATEST]0123456789abcdef",
        "AWS_REGION": "us-east-1",
        "AWS_DEFAULT_REGION": "us-east-1",
        "AWS_ACCESS_KEY_ID": "ASIAEXAMPLEEXAMPLE00",
        "AWS_SECRET_ACCESS_KEY": "example",
        "AWS_SESSION_TOKEN": "example",
        # Tracer and the X-Ray SDK as Lambda sets them up; segments go to a local
        # UDP port nobody listens on.
        "AWS_XRAY_CONTEXT_MISSING": "LOG_ERROR",
        "AWS_XRAY_DAEMON_ADDRESS": "127.0.0.1:2000",
        "_X_AMZN_TRACE_ID": TRACE_HEADER,
    }
    env.update(subject.environment)
    return env


def prepare(subject: Subject, work: Path, runtime: str, layer: Path, rt: Path):
    """A read-only copy of the build output: Lambda's /var/task."""
    build = subject.project / ".aws-sam" / "build" / "HelloWorldFunction"
    subject.artifact_bytes = tree_bytes(build)
    task = work / "ro" / subject.project.name
    make_writable(task)
    shutil.rmtree(task, ignore_errors=True)
    shutil.copytree(build, task)
    make_read_only(task)
    subject.task = task
    subject.environment = function_environment(subject)
    path = [task, *([layer] if subject.layer else []), rt]
    if subject.layer:
        subject.layer_bytes = tree_bytes(layer)
    subject.env = lambda_environment(subject, runtime, task, path)


# After the import, the probe reports its peak resident set (VmHWM, Linux). The
# ru_maxrss that wait4 returns would not do: Linux carries the forking parent's
# peak (this script, with cookiecutter and SAM CLI loaded) into the child's.
COLD_PROBE = """import app
try:
    with open("/proc/self/status") as status:
        peak = [line for line in status if line.startswith("VmHWM:")][0]
    import sys
    sys.stderr.write("@@" + peak.split()[1] + "\\n")
except OSError:
    pass
"""


def cold_once(subject: Subject, python: Path) -> None:
    command = [str(python), "-S", "-c", COLD_PROBE]
    start = time.perf_counter()
    process = subprocess.Popen(
        command,
        cwd=subject.task,
        env=subject.env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    _, status, usage = os.wait4(process.pid, 0)
    elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    err = process.stderr.read().decode(errors="replace")
    process.stderr.close()
    if process.returncode != 0:
        sys.exit(f"{subject.name}: importing the handler failed:\n{err[-3000:]}")
    subject.cold_ms.append(elapsed * 1000)
    peaks = [line[2:] for line in err.splitlines() if line.startswith("@@")]
    subject.rss_kb.append(int(peaks[-1]) if peaks else usage.ru_maxrss)


class WarmWorker:
    """A bench/warm.py process for one subject, fed chunks of calls to time."""

    def __init__(self, subject: Subject, python: Path, work: Path):
        self.subject = subject
        event = ROOT / "{{cookiecutter.project_slug}}" / "events" / "hello_name.json"
        read, write = os.pipe()
        self.stderr = open(work / f"warm-{subject.project.name}.err", "w+b")
        self.process = subprocess.Popen(
            [str(python), "-S", str(BENCH / "warm.py"), str(event), str(write)],
            cwd=subject.task,
            env=subject.env,
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            pass_fds=(write,),
            text=True,
        )
        os.close(write)
        self.results = os.fdopen(read, "r")
        self.timings: list[int] = []
        ready = self.read()
        if ready["status"] != 200:
            self.fail(f"the event got {ready['status']}, not 200")

    def read(self):
        line = self.results.readline()
        if not line:
            self.fail("the warm-invoke worker stopped")
        return json.loads(line)

    def fail(self, message: str):
        self.stderr.seek(0)
        output = self.stderr.read().decode(errors="replace")[-3000:]
        sys.exit(f"{self.subject.name}: {message}\n{output}")

    def chunk(self, calls: int) -> None:
        self.process.stdin.write(f"{calls}\n")
        self.process.stdin.flush()
        self.timings += self.read()

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
        self.results.close()
        self.stderr.close()
        timings = sorted(self.timings)
        quartiles = statistics.quantiles(timings, n=4)
        self.subject.warm = {
            "median_us": statistics.median(timings) / 1000,
            "q1_us": quartiles[0] / 1000,
            "q3_us": quartiles[2] / 1000,
        }


def warm_all(subjects: list[Subject], python: Path, calls: int, work: Path) -> None:
    """Every subject's worker imports once; then rounds of calls, interleaved."""
    rounds = 10
    workers = [WarmWorker(s, python, work) for s in subjects]
    for _ in range(rounds):
        for worker in workers:
            worker.chunk(-(-calls // rounds))
    for worker in workers:
        worker.close()


def files_under(path: Path) -> set[Path]:
    return set(path.rglob("*"))


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def mb(n: float) -> str:
    return f"{n / 1e6:.1f}"


def ratio(value: float, reference: float) -> str:
    return f"{value / reference:.2f}×" if reference else "–"


def table(subjects: list[Subject], meta: dict) -> str:
    ref = next(s for s in subjects if s.name == "tutorial app")
    ref_cold = statistics.median(ref.cold_ms)
    ref_warm = ref.warm["median_us"]
    lines = [
        f"Measured {meta['date']} on {meta['machine']}; {meta['python']} "
        f"(`-S`, read-only code, no bytecode written); Powertools {POWERTOOLS}, "
        f"SAM CLI {meta['sam']}, {meta['runtime']} {meta['arch']} builds; "
        f"cold init: median of {meta['runs']} interleaved runs; warm invoke: median "
        f"of {meta['calls']} calls; layer bytecode: {meta['layer_bytecode']}. "
        "Ratios are to the tutorial app.",
        "",
        "| function | cold init ms | × | warm invoke µs | × | artifact MB | × "
        "| layer MB | peak RSS MB |",
        "|---|--:|--:|--:|--:|--:|--:|--:|--:|",
    ]
    for s in subjects:
        cold = statistics.median(s.cold_ms)
        warm_us = s.warm["median_us"]
        lines.append(
            f"| {s.name} | {cold:.0f} | {ratio(cold, ref_cold)} | {warm_us:.0f} "
            f"| {ratio(warm_us, ref_warm)} | {mb(s.artifact_bytes)} "
            f"| {ratio(s.artifact_bytes, ref.artifact_bytes)} "
            f"| {mb(s.layer_bytes) if s.layer else '–'} "
            f"| {statistics.median(s.rss_kb) / 1024:.0f} |"
        )
    lines += [
        "",
        "Names: L = Logger, T = Tracer, M = Metrics; `pip`/`layer` = "
        "powertools_source; `makefile` = build_method (bytecode compiled at build, "
        "the runtime's SDK not bundled); the others use sam build's standard pip "
        "builder.",
    ]
    return "\n".join(lines) + "\n"


def update_readme(markdown: str) -> None:
    readme = ROOT / "README.md"
    text = readme.read_text("utf-8")
    head, start, rest = text.partition(README_START)
    _, end, tail = rest.partition(README_END)
    if not start or not end:
        sys.exit(f"README.md has no {README_START} ... {README_END} block")
    readme.write_text(f"{head}{start}\n{markdown}{end}{tail}", "utf-8")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runtime", default="python3.13")
    parser.add_argument("--runs", type=int, default=10, help="cold-init rounds")
    parser.add_argument("--calls", type=int, default=2000, help="warm invokes")
    parser.add_argument(
        "--layer-bytecode",
        default="checked-hash",
        choices=["none", "checked-hash", "unchecked-hash"],
        help="bytecode in the stand-in for the Powertools layer",
    )
    parser.add_argument("--quick", action="store_true", help="few subjects and runs")
    parser.add_argument("--readme", action="store_true", help="update README.md")
    parser.add_argument("--work", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.calls = min(args.runs, 3), min(args.calls, 200)
    started = time.monotonic()
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    runtime = args.runtime
    python = interpreter(runtime)
    arch = host_architecture()  # binary wheels (wrapt) must load on this host

    log("rendering the subjects")
    subjects = [
        fixture_subject("floor (bare handler)", BENCH / "floor", work, runtime, arch),
        fixture_subject("tutorial app", BENCH / "tutorial", work, runtime, arch),
        *generated_subjects(work, args.runtime, arch, args.quick),
    ]
    log(f"sam build x{len(subjects)}, two at a time")
    with concurrent.futures.ThreadPoolExecutor(max_workers=2) as pool:
        list(pool.map(lambda s: sam_build(s, python), subjects))
    log("runtime and layer directories")
    runtime_dir = build_runtime_dir(python, work)
    layer_dir = build_layer_dir(python, work, arch, args.layer_bytecode)
    shared = [runtime_dir, layer_dir.parent]
    for path in shared:
        make_read_only(path)
    for subject in subjects:
        prepare(subject, work, args.runtime, layer_dir, runtime_dir)
    before = set().union(*(files_under(s.task) for s in subjects))
    before |= set().union(*(files_under(p) for p in shared))

    log(f"cold init: {args.runs} rounds + 1 discarded, interleaved")
    for round_number in range(args.runs + 1):
        for subject in subjects:
            cold_once(subject, python)
            if round_number == 0:  # warms the page cache; not counted
                subject.cold_ms.clear()
                subject.rss_kb.clear()
    log(f"warm invoke: {args.calls} calls each, in interleaved rounds")
    warm_all(subjects, python, args.calls, work)
    after = set().union(*(files_under(s.task) for s in subjects))
    after |= set().union(*(files_under(p) for p in shared))
    if after != before:
        sys.exit(f"files were written into read-only trees: {sorted(after - before)}")

    sam_version = subprocess.run(
        [str(Path(sys.executable).parent / "sam"), "--version"],
        capture_output=True,
        text=True,
    ).stdout.split()[-1]
    meta = {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "python": f"{args.runtime} {platform_version(python)}",
        "runtime": args.runtime,
        "arch": arch,
        "sam": sam_version,
        "runs": args.runs,
        "calls": args.calls,
        "layer_bytecode": args.layer_bytecode,
    }
    markdown = table(subjects, meta)
    (work / "RESULTS.md").write_text(markdown, "utf-8")
    (work / "results.json").write_text(
        json.dumps(
            {
                "meta": meta,
                "subjects": [
                    {
                        "name": s.name,
                        "answers": s.answers,
                        "cold_ms": s.cold_ms,
                        "rss_kb": s.rss_kb,
                        "warm": s.warm,
                        "artifact_bytes": s.artifact_bytes,
                        "layer_bytes": s.layer_bytes,
                    }
                    for s in subjects
                ],
            },
            indent=1,
        ),
        "utf-8",
    )
    if args.readme:
        update_readme(markdown)
    print(markdown)
    log(f"done in {time.monotonic() - started:.0f} s; {work / 'RESULTS.md'}")
    return 0


def platform_version(python: Path) -> str:
    out = subprocess.run([str(python), "-V"], capture_output=True, text=True)
    return out.stdout.strip().removeprefix("Python ")


if __name__ == "__main__":
    sys.exit(main())
