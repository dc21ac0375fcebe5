"""GitHub Actions as the tests read it: the generated workflow's jobs and steps, an
evaluator of the expressions its `if` uses, and the claims of a job's OIDC token."""

from __future__ import annotations

import re
from pathlib import Path

from matrix import matrix_params
from support.documents import load_workflow
from support.renders import scope_matrix

# The full matrix's ci=github combinations as test parameters (the quick subset's in
# the fast loop): GITHUB[:1] for a test that runs one, slowly.
GITHUB = [p for p in matrix_params() if p.values[0]["ci"] == "github"]
WORKFLOW = ".github/workflows/ci.yml"


def github_combinations(scope: str, **only: object) -> list[dict]:
    """The combinations of this scope (support/renders.py SCOPES) with ci=github,
    and these answers if any are given."""
    wanted = {"ci": "github", **only}
    return [
        answers
        for answers in scope_matrix(scope)
        if all(answers[key] == value for key, value in wanted.items())
    ]


def deploy_job(project: Path) -> dict:
    return load_workflow(project / WORKFLOW)["jobs"]["deploy"]


def environment_name(job: dict) -> str:
    environment = job["environment"]
    return environment if isinstance(environment, str) else environment["name"]


def step_running(job: dict, command: str) -> tuple[int, dict]:
    (found,) = [
        (index, step)
        for index, step in enumerate(job["steps"])
        if command in step.get("run", "")
    ]
    return found


def step_using(job: dict, action: str) -> tuple[int, dict]:
    (found,) = [
        (index, step)
        for index, step in enumerate(job["steps"])
        if step.get("uses", "").startswith(action + "@")
    ]
    return found


class GitHubExpression:
    """Evaluates the subset of GitHub Actions expressions the workflow's `if` uses:
    contexts, string literals, ==, !=, &&, ||, parentheses and format() (`!` is left
    out: its precedence differs from Python's `not`). An unset variable is '' (as on
    GitHub). GitHub compares strings ignoring case; the runs below differ by more.
    Anything else fails the test."""

    TOKEN = re.compile(
        r"\s*(?:(?P<string>'(?:[^']|'')*')|(?P<op>==|!=|&&|\|\||\(|\)|,)"
        r"|(?P<name>[A-Za-z_][\w.-]*))"
    )
    PYTHON = {"&&": " and ", "||": " or "}

    def __init__(self, text: str):
        self.source = []
        position = 0
        text = text.strip()
        while position < len(text):
            match = self.TOKEN.match(text, position)
            assert match and match.end() > position, f"unsupported: {text[position:]}"
            position = match.end()
            if match["string"] is not None:
                self.source.append(repr(match["string"][1:-1].replace("''", "'")))
            elif match["op"]:
                self.source.append(self.PYTHON.get(match["op"], match["op"]))
            elif match["name"] == "format":
                self.source.append("_format")
            else:
                self.source.append(f"_context({match['name']!r})")

    def __call__(self, contexts: dict[str, str]) -> bool:
        def context(name: str) -> str:
            assert name in contexts or name.startswith("vars."), name
            return contexts.get(name, "")

        def format_(template: str, *arguments: str) -> str:
            return re.sub(r"\{(\d+)\}", lambda m: arguments[int(m[1])], template)

        namespace = {"__builtins__": {}, "_context": context, "_format": format_}
        return bool(eval("".join(self.source), namespace))


def github_token(
    owner: str = "octo-org",
    owner_id: str = "1001",
    repository: str = "octo-repo",
    repository_id: str = "2002",
    *,
    immutable: bool,
    event: str = "push",
    ref: str = "refs/heads/main",
    environment: str | None = "production",
    audience: str = "sts.amazonaws.com",
    workflow_file: str = "ci.yml",
) -> dict[str, str]:
    """The claims of a job's OIDC token (GitHub's "OpenID Connect reference", its
    example token included): the subject in the old format or with immutable ids
    (repositories created after GitHub's 2026 switch); `environment` only for a job
    that names one; job_workflow_ref, the workflow file that runs the job, at the
    run's ref."""
    names = (
        f"{owner}@{owner_id}/{repository}@{repository_id}"
        if immutable
        else f"{owner}/{repository}"
    )
    if environment:
        subject = f"repo:{names}:environment:{environment}"
    elif event == "pull_request":
        subject = f"repo:{names}:pull_request"
    else:
        subject = f"repo:{names}:ref:{ref}"
    claims = {
        "aud": audience,
        "sub": subject,
        "repository": f"{owner}/{repository}",
        "repository_id": repository_id,
        "repository_owner": owner,
        "repository_owner_id": owner_id,
        "ref": ref,
        "event_name": event,
        "workflow": "CI",
        "job_workflow_ref": (
            f"{owner}/{repository}/.github/workflows/{workflow_file}@{ref}"
        ),
    }
    if environment:
        claims["environment"] = environment
    return claims


# The job graph: how files reach a job (artifacts, caches), read from the workflow.
# Actions that keep files between jobs: artifacts, and caches (which outlive a run:
# a cache saved by any workflow of the repository may be restored here).
ARTIFACT_UPLOAD, ARTIFACT_DOWNLOAD = (
    "actions/upload-artifact",
    "actions/download-artifact",
)


CACHING_ACTIONS = ("actions/cache",)


OUTPUT = re.compile(r"^\$\{\{ needs\.([\w-]+)\.outputs\.([\w-]+) \}\}$")


STEP_OUTPUT = re.compile(r"^\$\{\{ steps\.([\w-]+)\.outputs\.([\w-]+) \}\}$")


def action(step: dict) -> str:
    return step.get("uses", "").split("@")[0]


def uses_cache(step: dict) -> bool:
    """A cache restored or saved: actions/cache, or a setup action's `cache` input."""
    return action(step).startswith(CACHING_ACTIONS) or bool(
        step.get("with", {}).get("cache")
    )


def feeders(jobs: dict, name: str) -> tuple[set[str], list[str]]:
    """The jobs whose files reach job `name` directly, and what makes that unsafe
    beyond them (a cache, a name any job can upload under, another run's files)."""
    found, unsafe = set(), []
    for step in jobs[name]["steps"]:
        if uses_cache(step):
            unsafe.append(f"{name}: a cache, which any job of any run may have saved")
        if action(step) != ARTIFACT_DOWNLOAD:
            continue
        given = step.get("with", {})
        if given.get("run-id", "${{ github.run_id }}") != "${{ github.run_id }}":
            unsafe.append(f"{name}: an artifact of another run")
        ids = OUTPUT.match(given.get("artifact-ids", ""))
        if not ids:
            unsafe.append(f"{name}: an artifact by name, which any job may upload")
            found |= set(jobs)
            continue
        producer, output = ids.groups()
        assert producer in jobs[name].get("needs", []), (name, producer)
        produced = STEP_OUTPUT.match(jobs[producer]["outputs"][output])
        assert produced, (producer, output)
        step_id, step_output = produced.groups()
        (upload,) = [s for s in jobs[producer]["steps"] if s.get("id") == step_id]
        assert (action(upload), step_output) == (ARTIFACT_UPLOAD, "artifact-id")
        found.add(producer)
    return found, unsafe


def reaching(jobs: dict, name: str) -> tuple[set[str], list[str]]:
    """Every job whose files reach job `name`, directly or through other jobs."""
    seen, unsafe, todo = set(), [], [name]
    while todo:
        found, problems = feeders(jobs, todo.pop())
        unsafe += problems
        todo += sorted(found - seen - {name})
        seen |= found - {name}
    return seen, unsafe
