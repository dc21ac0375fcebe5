"""The linters the suite runs in batches over many renderings: cfn-lint as `sam
validate --lint` runs it, and checkov (an isolated tool), with what a clean checkov
result is."""

from __future__ import annotations

import functools
import json
from pathlib import Path

from support.documents import REGION
from support.processes import run, tool
from support.shared import digest
from support.tools import isolated_tool


@functools.cache
def cfn_lint_runner():
    """cfn-lint's runner as `sam validate --lint` configures it (the region only),
    made once per process: SAM CLI's cfnlint.api.lint call makes one per template,
    which loads every rule again."""
    from cfnlint.config import ConfigMixIn, ManualArgs
    from cfnlint.runner import Runner

    return Runner(ConfigMixIn(**ManualArgs(regions=[REGION])))


def cfn_lint_templates(templates: dict[str, Path]) -> dict[str, list[str]]:
    """What `sam validate --lint` reports for each template (cfnlint.api.lint's
    steps: decode, then validate), keyed like `templates`."""
    from cfnlint.decode.decode import decode_str

    findings = {}
    for key, path in templates.items():
        template, errors = decode_str(path.read_text(encoding="utf-8"))
        if not errors and template is not None:
            errors = cfn_lint_runner().validate_template(template)
        findings[key] = [str(match) for match in errors or []]
    return findings


def checkov(templates: dict[str, Path]) -> dict[str, dict[str, list[dict]]]:
    """checkov's failed, skipped and passed checks for each template, one process
    for all of them; keyed like `templates`."""
    owners = {path.resolve(): key for key, path in templates.items()}
    scanned = run(
        [
            isolated_tool("checkov"),
            # Offline: no guideline download, no upload, no network at all.
            "--skip-download",
            "--framework",
            "cloudformation",
            "--output",
            "json",
            # No code blocks in the report: the same checks and skips, less output
            # to write and read.
            "--compact",
            "--file",
            *sorted(map(str, templates.values())),
        ]
    )
    # Exit 1 means failed checks: they are reported per template below.
    assert scanned.returncode in (0, 1), scanned.stdout[-2000:] + scanned.stderr
    reports = json.loads(scanned.stdout)
    results = {
        key: {"failed_checks": [], "skipped_checks": [], "passed_checks": []}
        for key in templates
    }
    for report in reports if isinstance(reports, list) else [reports]:
        assert report["check_type"] == "cloudformation"
        assert report["results"]["parsing_errors"] == []
        for outcome in ("failed_checks", "skipped_checks", "passed_checks"):
            for check in report["results"][outcome]:
                key = owners[Path(check["file_abs_path"]).resolve()]
                results[key][outcome].append(check)
    return results


def assert_nothing_unjustified(result: dict[str, list[dict]]) -> None:
    """checkov scanned something, failed nothing, and every skip says why."""
    assert result["passed_checks"], "checkov scanned nothing"
    assert [
        f"{c['check_id']} {c['resource']}: {c['check_name']}"
        for c in result["failed_checks"]
    ] == []
    for check in result["skipped_checks"]:
        reason = check["check_result"].get("suppress_comment", "").strip()
        assert len(reason) > 20, f"{check['check_id']} is skipped without a reason"


def python_sources(project: Path) -> str:
    """What ruff's verdict on a project depends on: its Python files and its
    pyproject.toml (the ruff configuration, target version included)."""
    files = [project / "pyproject.toml", *sorted(project.rglob("*.py"))]
    return digest(
        json.dumps(
            [(f.relative_to(project).as_posix(), digest(f.read_bytes())) for f in files]
        )
    )


def ruff_findings(projects: dict[str, Path]) -> dict[str, list[str]]:
    """ruff check and ruff format --check over these projects in two processes;
    findings keyed like `projects`."""
    owners = {path.resolve(): key for key, path in projects.items()}
    findings: dict[str, list[str]] = {key: [] for key in projects}

    def owner(filename: str) -> str:
        path = Path(filename).resolve()
        return next(owners[p] for p in path.parents if p in owners)

    paths = [str(p) for p in projects.values()]
    checked = run(
        [
            tool("ruff"),
            "check",
            "--output-format",
            "json",
            "--exit-zero",
            "--no-cache",
            *paths,
        ]
    )
    assert checked.returncode == 0, checked.stderr
    for finding in json.loads(checked.stdout):
        findings[owner(finding["filename"])].append(
            f"ruff {finding['code']} {finding['filename']}:{finding['location']['row']}"
            f" {finding['message']}"
        )
    formatted = run([tool("ruff"), "format", "--check", "--no-cache", *paths])
    assert formatted.returncode in (0, 1), formatted.stderr
    for line in formatted.stdout.splitlines():
        if line.startswith("Would reformat: "):
            filename = line.removeprefix("Would reformat: ")
            findings[owner(filename)].append(f"ruff format: {filename}")
    return findings
