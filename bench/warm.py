"""Warm-invoke worker: started by bench/run.py with the runtime's interpreter, with
-S and the Lambda-like sys.path and environment of the cold-init runs.

usage: python3.13 -S warm.py EVENT_JSON RESULT_FD

Imports the handler module, invokes it once (the cold invoke, not counted) and a
few more times (warm-up). Then, for each number N read from stdin, times N calls of
lambda_handler on the same API Gateway event, each on its own, and writes their
durations in nanoseconds as one JSON line to RESULT_FD. run.py sends chunks to
every subject in turn, so that a burst of load on the machine hits all subjects
alike. Whatever the function prints goes to run.py's choice: /dev/null.
"""

from __future__ import annotations

import copy
import json
import os
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


def main() -> int:
    event_path, result_fd = sys.argv[1], int(sys.argv[2])
    # This script's own directory must not shadow the function's modules.
    sys.path[0] = os.environ["LAMBDA_TASK_ROOT"]
    with open(event_path, encoding="utf-8") as f:
        event = json.load(f)
    results = os.fdopen(result_fd, "w", buffering=1)
    import app

    handler = app.lambda_handler
    context = LambdaContext()
    first = handler(copy.deepcopy(event), context)
    for _ in range(100):
        handler(event, context)
    status = first.get("statusCode") if isinstance(first, dict) else None
    results.write(json.dumps({"status": status}) + "\n")
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
    sys.exit(main())
