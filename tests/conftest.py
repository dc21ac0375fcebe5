"""The suite's fixtures, shared by every test module. What they are made of, and
everything else the tests share, is in the support package (tests/support/). Renders
come from pytest-cookies (cookies_session), once per set of answers for the whole
run (support.renders.Renders)."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest

from support import timeline
from support.documents import sam_transform_templates
from support.environments import ProjectEnvironments
from support.linters import cfn_lint_templates, checkov
from support.renders import Renders, cache_compiled_templates
from support.sam import SamBuilds, api_event
from support.shared import CACHE, SharedResults, run_directory, worker_count
from support.tools import INSTALL_TOOLS, MISSING_TOOL, isolated_tool

# The tests stop `dev.py serve` and interrupt `dev.py setup` as a terminal's Ctrl-C
# does (SIGINT), so those commands must not start with SIGINT ignored. A run started
# as a background job of a script does ("Background processes started by a
# non-interactive shell ignore SIGINT", Bash Reference Manual, "Signals"), and exec
# keeps an ignored signal ignored (POSIX, "exec"): a handler of this process is
# reset to the default in every command it starts instead, as in a terminal.
if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(optionalhook=True)  # a run without pytest-xdist has no such hook
def pytest_xdist_auto_num_workers(config) -> int | None:
    """`-n auto` (or `logical`): one pytest-xdist worker per core this process may
    use, and one more: part of the suite waits rather than computes (package
    downloads, servers, subprocesses), and with a worker per core the cores idle
    meanwhile (`time` of `bash .ci/run`: user + sys below twice the wall time on
    two cores).
    PYTEST_XDIST_AUTO_NUM_WORKERS, where set, still decides (pytest-xdist's own
    hook)."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return None
    cores = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return (len(cores) if cores else os.cpu_count() or 1) + 1


def pytest_runtest_logreport(report) -> None:
    timeline.record_phase(report)  # only with SUITE_TIMELINE set (support/timeline.py)


def pytest_terminal_summary(terminalreporter) -> None:
    """A run that skipped checks for want of a tool says so at its end, with the
    command that installs them: a green run never hides them."""
    missing: dict[str, int] = {}
    for report in terminalreporter.stats.get("skipped", []):
        reason = report.longrepr[-1] if isinstance(report.longrepr, tuple) else ""
        found = MISSING_TOOL.search(str(reason))
        if found:
            missing[found["tool"]] = missing.get(found["tool"], 0) + 1
    if missing:
        terminalreporter.write_sep(
            "=",
            f"{sum(missing.values())} tests skipped: {', '.join(sorted(missing))} "
            f"not installed; {INSTALL_TOOLS} installs them",
            yellow=True,
            bold=True,
        )


@pytest.fixture(scope="session", autouse=True)
def cookiecutter_config(_cookiecutter_config_file) -> Iterator[Path]:
    """pytest-cookies' cookiecutter user config (clones and replay files in a
    session directory, never in ~), for every render of the run: the plugin's bakes
    use it, and COOKIECUTTER_CONFIG gives it to everything else (cookiecutter's API
    without config_file, its CLI, sam init, cruft)."""
    config = Path(str(_cookiecutter_config_file))
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("COOKIECUTTER_CONFIG", str(config))
        yield config


@pytest.fixture(scope="session")
def bake(cookies_session, tmp_path_factory) -> Renders:
    """bake(answers): the run's one rendering of these answers (a pytest-cookies
    Result), shared by all pytest-xdist workers."""
    cache_compiled_templates()
    return Renders(cookies_session, run_directory(tmp_path_factory) / "renders")


@pytest.fixture(scope="session")
def cfn_lint(tmp_path_factory) -> SharedResults:
    """cfn_lint(template) -> what `sam validate --lint` reports for it, computed
    once per distinct template in the run (every worker, every test module);
    cfn_lint.prefetch(templates) lints a batch, shared out between the workers."""
    directory = run_directory(tmp_path_factory) / "cfn-lint"
    return SharedResults(directory, cfn_lint_templates)


@pytest.fixture(scope="session")
def sam_transform(tmp_path_factory) -> SharedResults:
    """sam_transform(template) -> template.yaml as CloudFormation gets it, after
    SAM's transform (support/documents.py sam_transform_templates), done once per
    distinct template in the run: the validation, security, monitoring and deploy
    role tests all read it."""
    directory = run_directory(tmp_path_factory) / "sam-transform"
    return SharedResults(directory, sam_transform_templates)


@pytest.fixture(scope="session")
def checkov_scan(tmp_path_factory) -> SharedResults:
    """checkov_scan(template) -> checkov's checks of it, computed once per distinct
    template in the run; checkov_scan.prefetch(templates) scans a batch in one
    checkov process per bucket of keys, four buckets per worker (the full run's
    have more than 100 templates each: a worker that finishes first waits for at
    most one), and a small batch (the fast loop's) in one process, not one per
    bucket: each process takes seconds to start."""
    isolated_tool("checkov")  # skips (locally) or fails (CI) before any work
    directory = run_directory(tmp_path_factory) / "checkov"
    return SharedResults(directory, checkov, buckets=4 * worker_count(), batch=100)


@pytest.fixture(scope="session")
def project_envs() -> ProjectEnvironments:
    return ProjectEnvironments(CACHE / "envs")


@pytest.fixture(scope="session")
def sam_builds(bake, tmp_path_factory) -> SamBuilds:
    return SamBuilds(bake, run_directory(tmp_path_factory) / "sam-builds")


@pytest.fixture(scope="session")
def api_events() -> dict[str, dict]:
    """`sam local generate-event apigateway aws-proxy` for each case."""
    hello = api_event("/hello", resource="/hello")
    hello_name = api_event(
        "/hello/Ada", resource="/hello/{name}", path_parameters={"name": "Ada"}
    )
    # A path the API does not route to the app is caught by API Gateway, so the
    # app's own 404 shows for a path that reaches it: the generator's default
    # greedy resource, /{proxy+}, is one.
    unknown = api_event("/goodbye")
    assert unknown["resource"] == "/{proxy+}"
    return {"hello": hello, "hello_name": hello_name, "unknown": unknown}
