"""Warm-invoke worker: started by bench/measure.py with the runtime's interpreter,
with -S and the sys.path and environment of the cold-init runs.

usage: python3.13 -S warm.py EVENT_JSON RESULT_FD [--profile CALLS TOP]

Imports the handler module, invokes it once (the cold invoke, not counted) and a
hundred times more (warm-up), and writes {"status": <the first status code>} to
RESULT_FD. Then, for each number N read from stdin, times N calls of lambda_handler
on the same API Gateway event, each on its own, and writes their durations in
nanoseconds as one JSON line. With --profile, it instead runs CALLS calls under
cProfile and writes {"profile": text}: the TOP functions by own time, by
cumulative time, and own time summed by package. The function's output goes where
measure.py sends it: /dev/null.
"""

from __future__ import annotations

import copy
import cProfile
import importlib
import io
import json
import os
import pstats
import sys
import time


class LambdaContext:
    """The attributes of Lambda's context object that Powertools reads."""

    function_name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "HelloWorldFunction")
    function_version = "$LATEST"
    memory_limit_in_mb = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
    invoked_function_arn = (
        f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
    )
    aws_request_id = "52fdfc07-2182-454f-963f-5f0f9a621d72"
    log_group_name = f"/aws/lambda/{function_name}"
    log_stream_name = "2026/11/26/[$LATEST]0123456789abcdef"

    def get_remaining_time_in_millis(self) -> int:
        return 10_000


def profiled(handler, event: dict, calls: int, top: int) -> str:
    context = LambdaContext()
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        handler(event, context)
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    out.write(f"{calls} warm invocations; times are totals over all of them\n")
    stats.sort_stats("tottime").print_stats(top)
    stats.sort_stats("cumulative").print_stats(top)
    by_package: dict[str, float] = {}
    # Each function's own time (pstats' tottime), as cProfile records it: a code
    # object, or a built-in's name.
    for entry in profiler.getstats():
        code = entry.code
        path, name = ("~", code) if isinstance(code, str) else (code.co_filename, "")
        package = package_of(path) if path != "~" else f"builtin {name}"
        by_package[package] = by_package.get(package, 0.0) + entry.inlinetime
    out.write("own time by package (ms per invocation)\n")
    ranked = sorted(by_package.items(), key=lambda item: -item[1])
    for package, own in ranked[:top]:
        out.write(f"{own * 1000 / calls:9.4f}  {package}\n")
    return out.getvalue()


def package_of(path: str) -> str:
    """Two levels of the module a file belongs to, by the sys.path entry it is under
    (e.g. aws_lambda_powertools.logging); stdlib modules under "stdlib"."""
    for root in sorted(sys.path, key=len, reverse=True):
        if root and path.startswith(root.rstrip("/") + "/"):
            parts = path[len(root.rstrip("/")) + 1 :].removesuffix(".py").split("/")
            name = ".".join(p for p in parts[:2] if p != "__init__")
            inside = root in os.environ["PYTHONPATH"].split(":")
            return name if inside else f"stdlib {name}"
    return path


def invoke_loop() -> int:
    event_path, result_fd = sys.argv[1], int(sys.argv[2])
    # This script's own directory must not shadow the function's modules.
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    results = os.fdopen(result_fd, "w", buffering=1)
    # The function's module, found on the task root only now.
    app = importlib.import_module("app")

    handler = app.lambda_handler
    context = LambdaContext()
    first = handler(copy.deepcopy(event), context)
    for _ in range(100):
        handler(event, context)
    status = first.get("statusCode") if isinstance(first, dict) else None
    results.write(json.dumps({"status": status}) + "\n")
    if sys.argv[3:4] == ["--profile"]:
        calls, top = int(sys.argv[4]), int(sys.argv[5])
        results.write(json.dumps({"profile": profiled(handler, event, calls, top)}))
        return 0
    clock = time.perf_counter_ns
    for line in sys.stdin:
        timings = []
        for _ in range(int(line)):
            start = clock()
            handler(event, context)
            timings.append(clock() - start)
        results.write(json.dumps(timings) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(invoke_loop())
