"""The bench's one entry point; run from the repository root with its .venv:

    .venv/bin/python -m bench run --subjects levers,all --name full  # publish
    .venv/bin/python -m bench run --subjects default,tutorial --quick  # smoke run
    .venv/bin/python -m bench report [--check]    # README tables from results/*.json
    .venv/bin/python -m bench profile             # cProfile of warm invokes
    .venv/bin/python -m bench subjects levers     # what a --subjects value names

bench/README.md describes the method and what each subject name means.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import matrix
from matrix import ROOT

from . import build, layout, measure, report
from .subjects import DEFAULTS, SubjectError, select

WORK = ROOT / ".cache" / "bench"
RUNTIME = matrix.DEFAULTS["runtime"]


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        models = [
            line for line in cpuinfo.read_text().splitlines() if "model name" in line
        ]
        cpu = models[0].split(":", 1)[1].strip() if models else cpu
    return f"{cpu}, {os.cpu_count()} cores, {platform.system()} {platform.release()}"


def prepare(subjects, python: Path, rebuild: bool):
    """Build every subject and lay it out as Lambda runs it. Returns the targets to
    measure, the subjects left out because their function code is another's, and
    the shared read-only trees (runtime and layer directories)."""
    projects = build.build_all(subjects, WORK, python, python.name, rebuild)
    runtime = layout.runtime_dir(python, WORK)
    targets, seen, same_as, shared = [], {}, {}, {runtime}
    for subject in subjects:
        output = projects[subject] / ".aws-sam" / "build"
        source = build.project_digest(projects[subject] / "hello_world")
        code = (source, subject.layer_bytecode)
        if code in seen:
            same_as[subject.label] = seen[code]
            continue
        seen[code] = subject.label
        path, layer_bytes = [runtime], None
        if subject.uses_layer:
            arch = build.host_architecture()
            layer = layout.layer_dir(python, WORK, arch, subject.layer_bytecode)
            path, layer_bytes = [layer, runtime], layout.tree_bytes(layer)
            shared.add(layer)
        name = f"{projects[subject].name}-{subject.layer_bytecode}"
        task = layout.task_dir(output, WORK, name)
        env = layout.environment(python.name, task, [task, *path], output)
        size = layout.tree_bytes(task)
        targets.append(measure.Target(subject, task, env, size, layer_bytes))
    return targets, same_as, shared


def results(args, targets, same_as, python: Path, load_start: float) -> dict:
    command = (
        f".venv/bin/python -m bench run --subjects {shlex.quote(args.subjects)} "
        f"--runtime {args.runtime} --runs {args.runs} --rounds {args.rounds} "
        f"--calls {args.calls}" + (f" --name {args.name}" if args.name else "")
    )
    version = "import platform; print(platform.python_version())"
    meta = {
        "command": command,
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": machine(),
        "load_average": [load_start, os.getloadavg()[0]],
        "python": f"{args.runtime} {build.output_of([python, '-c', version]).strip()}",
        "runtime": args.runtime,
        "arch": build.host_architecture(),
        "sam": build.sam_version(),
        "powertools": build.POWERTOOLS_VERSION,
        "boto3": layout.BOTO3,
        "runs": args.runs,
        "rounds": args.rounds,
        "calls": args.calls,
        "defaults": DEFAULTS,
    }
    rows = [
        {
            "label": t.subject.label,
            "fixture": t.subject.fixture,
            "answers": t.subject.options,
            "variants": t.subject.variants,
            "artifact_bytes": t.artifact_bytes,
            "layer_bytes": t.layer_bytes,
            "cold_ms": t.cold_ms,
            "rss_kb": t.rss_kb,
            "warm_round_us": t.warm_round_us,
            "warm_us": t.warm_us,
        }
        for t in targets
    ]
    return {"meta": meta, "subjects": rows, "same_as": same_as}


def run_subjects(args) -> int:
    subjects = select(args.subjects)
    load_start = os.getloadavg()[0]
    python = build.interpreter(args.runtime)
    log(f"{len({s.build for s in subjects})} projects: render, sam build (cached)")
    targets, same_as, shared = prepare(subjects, python, args.rebuild)
    trees = [t.task for t in targets] + sorted(shared)
    before = layout.files_under(trees)
    log(f"cold init: {len(targets)} subjects, {args.runs} rounds + 1 discarded")
    measure.cold(targets, python, args.runs)
    log(f"warm invoke: {args.rounds} rounds of {args.calls // args.rounds} calls")
    measure.warm(targets, python, WORK, args.rounds, args.calls)
    if written := layout.files_under(trees) - before:
        sys.exit(f"bench: files were written into read-only trees: {sorted(written)}")
    data = results(args, targets, same_as, python, load_start)
    out = report.RESULTS / f"{args.name}.json" if args.name else WORK / "results.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(data, indent=1) + "\n", "utf-8")
    print(report.table(data))
    if args.name:
        for problem in report.update():
            log(problem)
    log(f"wrote {out}")
    return 0


def profile_subject(args) -> int:
    subjects = select(args.subject)
    if len(subjects) != 1:
        sys.exit(f"bench: --subject {args.subject!r} names {len(subjects)} subjects")
    python = build.interpreter(args.runtime)
    targets, _, _ = prepare(subjects, python, rebuild=False)
    print(measure.profile(targets[0], python, WORK, args.calls, args.top))
    return 0


def list_subjects(args) -> int:
    for subject in select(args.items):
        print(subject.label)
    return 0


def show_report(args) -> int:
    found = report.update(args.readme, check=args.check)
    for problem in found:
        print(f"bench: {problem}", file=sys.stderr)
    if any("differs from the data" in problem for problem in found):
        print("bench: regenerate: .venv/bin/python -m bench report", file=sys.stderr)
    return 1 if found else 0


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    run_ = commands.add_parser("run", help="build, measure, save, report")
    run_.add_argument("--subjects", default="levers", help="comma-separated items")
    run_.add_argument("--name", help="save as bench/results/NAME.json, update README")
    run_.add_argument("--runtime", default=RUNTIME)
    run_.add_argument("--runs", type=int, default=10, help="cold-init rounds")
    run_.add_argument("--rounds", type=int, default=10, help="warm-invoke rounds")
    run_.add_argument("--calls", type=int, default=2000, help="warm invokes in all")
    run_.add_argument(
        "--quick", action="store_true", help="3 runs, 5 rounds, 500 calls"
    )
    run_.add_argument("--rebuild", action="store_true", help="sam build even if cached")
    prof = commands.add_parser("profile", help="cProfile of warm invocations")
    prof.add_argument("--subject", default="default")
    prof.add_argument("--runtime", default=RUNTIME)
    prof.add_argument("--calls", type=int, default=2000)
    prof.add_argument("--top", type=int, default=25)
    listing = commands.add_parser("subjects", help="what --subjects ITEMS measures")
    listing.add_argument("items")
    rep = commands.add_parser("report", help="bench/README.md tables from the data")
    rep.add_argument("--check", action="store_true", help="fail if they differ")
    rep.add_argument("--readme", type=Path, default=report.README)
    args = parser.parse_args(argv)
    if getattr(args, "quick", False):
        args.runs, args.rounds, args.calls = 3, 5, 500
    if getattr(args, "rounds", 5) < 5:
        parser.error("--rounds: at least 5 (warm invoke is a median over rounds)")
    if getattr(args, "calls", 5) < getattr(args, "rounds", 1):
        parser.error("--calls: at least one per round")
    try:
        return {
            "run": run_subjects,
            "profile": profile_subject,
            "subjects": list_subjects,
            "report": show_report,
        }[args.command](args)
    except SubjectError as error:
        parser.exit(2, f"bench: --subjects {error}\n")


if __name__ == "__main__":
    sys.exit(main())
