"""A stand-in for oasdiff (which cannot be installed here: no Go module proxy): it
checks the arguments of `oasdiff breaking` and answers as oasdiff documents, and the
generated contract step run with it as GitHub runs a step."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from pathlib import Path

from support.processes import run

# The API's contract, as the generated project names it (dev.py writes it, the CI's
# contract job compares it): test_openapi.py and test_contract_job.py read it here.
DOCUMENT = "openapi.json"
# oasdiff's levels, lowest first: `breaking --fail-on WARN` fails on ERR and WARN, not
# on INFO (oasdiff/oasdiff docs/BREAKING-CHANGES.md).
LEVELS = ("INFO", "WARN", "ERR")
# How `--format githubactions` annotates each level (oasdiff/oasdiff
# formatters/format_githubactions.go).
SEVERITY = {"ERR": "error", "WARN": "warning", "INFO": "notice"}


# A stand-in for oasdiff that checks the arguments it gets and answers as oasdiff
# v1.28.0 does for `breaking`: the changes (here given by the test, as rule id and
# level) at WARN or above only, each as a GitHub annotation of its level's severity
# (oasdiff/oasdiff internal/breaking_changes.go); exit code 1 when one is at the
# --fail-on level or above.
STAND_IN = """#!PYTHON
import json, os, sys
arguments = sys.argv[1:]
with open(os.environ["OASDIFF_CALLS"], "a") as calls:
    calls.write(json.dumps(arguments) + "\\n")
assert arguments[:3] == ["breaking", "base/DOCUMENT", "DOCUMENT"], arguments
for path in arguments[1:3]:
    json.load(open(path))
options, rest = {}, iter(arguments[3:])
for option in rest:
    name, equals, value = option.partition("=")
    options[name] = value if equals else next(rest)
assert options["--allow-external-refs"] == "false", options
rule, level = os.environ["OASDIFF_CHANGE"].split(":")
levels = LEVELS
if levels.index(level) >= levels.index("WARN"):
    severity = SEVERITY[level]
    print(f"::{severity} title={rule}::in API GET /hello")
fail_on = options.get("--fail-on")
sys.exit(1 if fail_on and levels.index(level) >= levels.index(fail_on) else 0)
"""
STAND_IN = (
    STAND_IN.replace("PYTHON", sys.executable)
    .replace("LEVELS", repr(LEVELS))
    .replace("SEVERITY", repr(SEVERITY))
    .replace("DOCUMENT", DOCUMENT)
)


def run_comparison(
    tmp_path: Path, step: dict, base: dict | None, head: dict, change: tuple[str, str]
) -> tuple[subprocess.CompletedProcess, list[list[str]]]:
    workspace = tmp_path / "workspace"
    (workspace / "base").mkdir(parents=True)
    if base is not None:
        (workspace / "base" / DOCUMENT).write_text(json.dumps(base))
    (workspace / DOCUMENT).write_text(json.dumps(head))
    bin_ = tmp_path / "bin"
    bin_.mkdir()
    oasdiff = bin_ / "oasdiff"
    oasdiff.write_text(STAND_IN)
    oasdiff.chmod(oasdiff.stat().st_mode | stat.S_IXUSR)
    calls = tmp_path / "calls"
    env = {
        "PATH": os.pathsep.join([str(bin_), os.environ["PATH"]]),
        "OASDIFF_CALLS": str(calls),
        "OASDIFF_CHANGE": ":".join(change),
    }
    # As GitHub runs a step's script: bash -e, pipefail.
    done = run(["bash", "-eo", "pipefail", "-c", step["run"]], cwd=workspace, env=env)
    called = (
        [json.loads(x) for x in calls.read_text().splitlines()]
        if calls.exists()
        else []
    )
    return done, called
