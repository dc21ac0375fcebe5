"""The generated CI's `contract` job: the base branch's openapi.json against the pull
request's, with oasdiff at a pinned version, failing on the levels that oasdiff's
rules give a removed route or response property, passing an added property or a
major version bump; no credentials, nothing uploaded. oasdiff itself cannot run
here: the step runs against support/oasdiff.py's stand-in."""

from __future__ import annotations

import json

import pytest

from matrix import COOKIECUTTER_JSON, DEFAULTS
from support.documents import load_workflow
from support.github import WORKFLOW
from support.oasdiff import DOCUMENT, LEVELS, SEVERITY, run_comparison
from support.renders import Renders, baked_project

# oasdiff's rules (oasdiff/oasdiff checker/rules.go at v1.28.0) for the three
# document pairs below, with the level each rule has there: `breaking --fail-on WARN`
# fails on ERR and WARN, not on INFO (oasdiff/oasdiff docs/BREAKING-CHANGES.md).
PAIRS = {
    "a route removed": ("api-path-removed-without-deprecation", "ERR"),
    "a response property removed": ("response-required-property-removed", "ERR"),
    "a response property added": ("response-required-property-added", "INFO"),
}


def revised(document: dict, pair: str) -> dict:
    """The document changed as the pair says."""
    revision = json.loads(json.dumps(document))
    message = revision["components"]["schemas"]["Message"]
    if pair == "a route removed":
        del revision["paths"]["/hello/{name}"]
    elif pair == "a response property removed":
        del message["properties"]["message"]
        message["required"].remove("message")
    else:
        message["properties"]["greeted_at"] = {"type": "string", "format": "date-time"}
        message["required"].append("greeted_at")
    assert revision != document
    return revision


@pytest.fixture(scope="module")
def contract_job(bake: Renders) -> dict:
    return load_workflow(baked_project(bake, DEFAULTS) / WORKFLOW)["jobs"]["contract"]


def step_named(job: dict, name: str) -> dict:
    (step,) = [s for s in job["steps"] if s.get("name") == name]
    return step


def test_contract_job_compares_with_the_base_branch_without_credentials(
    contract_job,
):
    job = contract_job
    assert job["if"] == "github.event_name == 'pull_request'"
    assert job["permissions"] == {"contents": "read"}
    uses = [s["uses"].split("@")[0] for s in job["steps"] if "uses" in s]
    assert uses == ["actions/checkout", "actions/checkout", "actions/setup-go"]
    head, base, go = [s for s in job["steps"] if "uses" in s]
    assert "ref" not in head["with"]  # the pull request's merge commit
    assert base["with"]["ref"] == "${{ github.event.pull_request.base.sha }}"
    assert base["with"]["path"] == "base"
    assert base["with"]["sparse-checkout"] == f"/{DOCUMENT}"
    assert head["with"]["persist-credentials"] is base["with"]["persist-credentials"]
    assert head["with"]["persist-credentials"] is False
    assert go["with"]["cache"] is False  # no cache any job could have written
    # oasdiff from its Go module at a pinned version that reads OpenAPI 3.1.
    install = step_named(job, "Install oasdiff")["run"].strip()
    version = COOKIECUTTER_JSON["_oasdiff_version"]
    assert install == f"go install github.com/oasdiff/oasdiff@{version}"
    numbers = tuple(int(n) for n in version.removeprefix("v").split("."))
    assert numbers >= (1, 15, 0)
    # No secrets, no tokens, nothing uploaded, no extra flags that change matching
    # (a renamed path parameter is not breaking) or send the documents away.
    text = json.dumps(job)
    for word in ("secrets.", "token", "upload", "--include-path-params", "--open"):
        assert word not in text, word
    compare = step_named(job, "Compare openapi.json with the base branch's")["run"]
    assert "--fail-on WARN" in compare


@pytest.mark.parametrize("pair", list(PAIRS))
@pytest.mark.parametrize("bump", [False, True], ids=["same-version", "major-bump"])
def test_contract_step_fails_on_a_breaking_change_unless_the_major_version_rises(
    bake, contract_job, tmp_path, pair, bump
):
    step = step_named(contract_job, "Compare openapi.json with the base branch's")
    base = json.loads((baked_project(bake, DEFAULTS) / DOCUMENT).read_text())
    head = revised(base, pair)
    if bump:
        head["info"]["version"] = "2.0.0"
    rule, level = PAIRS[pair]
    done, calls = run_comparison(tmp_path, step, base, head, (rule, level))
    breaking = LEVELS.index(level) >= LEVELS.index("WARN")
    assert (done.returncode != 0) == (breaking and not bump), done.stdout
    # A breaking change is named with its rule id, as an annotation of the pull
    # request; `breaking` leaves out the others.
    named = f"::{SEVERITY[level]} title={rule}::" in done.stdout
    assert named == breaking, done.stdout
    (arguments,) = calls
    assert ("--fail-on" in arguments) == (not bump)
    if bump:
        assert "The major version rose" in done.stdout


def test_contract_step_passes_while_the_base_branch_has_no_document(
    bake, contract_job, tmp_path
):
    step = step_named(contract_job, "Compare openapi.json with the base branch's")
    head = json.loads((baked_project(bake, DEFAULTS) / DOCUMENT).read_text())
    done, calls = run_comparison(tmp_path, step, None, head, ("endpoint-added", "INFO"))
    assert done.returncode == 0 and calls == []
    assert "::notice::The base branch has no openapi.json" in done.stdout
