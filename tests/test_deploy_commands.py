"""The generated workflow's own commands (ci=github), run as its steps run them:
the deploy step's `sam package` and `sam deploy` and the step that reads the API's
URL against a local endpoint that records the AWS calls they make
(support/aws_endpoint.py), and the integration job's tests against a URL."""

from __future__ import annotations

import os
import shutil
import threading
from http.server import ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from samcli.yamlhelper import yaml_parse

from matrix import (
    DEFAULTS,
    POWERTOOLS_VERSION,
    values,
)
from support.aws_endpoint import RecordingEndpoint, aws_env
from support.deploy_role import SAM_DEPLOY_CALLS, load_role, stack_name
from support.documents import load_cfn, load_workflow
from support.github import WORKFLOW, deploy_job, step_running
from support.iam import policy_actions
from support.processes import bash, tool
from support.renders import working_copy
from support.sam import BUILT


@pytest.fixture
def endpoint():
    """A RecordingEndpoint on a free port: its URL and the class to configure."""
    handler = type(
        "Handler",
        (RecordingEndpoint,),
        {"calls": [], "parameters": [], "objects": {}, "outputs": {}, "uploads": {}},
    )
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", handler
    server.shutdown()
    server.server_close()


# sam deploy takes seconds per run: once per distinct deploy step (the layer adds a
# parameter), with the other answers at their defaults.
SOURCES = [
    pytest.param({**DEFAULTS, "ci": "github", "powertools_source": v}, id=v)
    for v in values("powertools_source")
]
BOUNDARY_ARN = "arn:aws:iam::123456789012:policy/deploy-Boundary-AbC"


def deploy_step_env(url: str, home: Path, sam_bin: Path) -> dict[str, str]:
    """The deploy step's environment: the SAM CLI's venv first on PATH, as the
    install step leaves it (here: the suite's own, the same SAM CLI)."""
    env = aws_env(url, home)
    env["PATH"] = f"{sam_bin}{os.pathsep}{env['PATH']}"
    return {
        **env,
        "AWS_DEPLOY_BUCKET": "artifact-bucket",
        "AWS_DEPLOY_BOUNDARY": BOUNDARY_ARN,
        "RUNNER_TEMP": str(home),
    }


def run_deploy_step(project: Path, url: str, home: Path, built: Path):
    """The deploy step after the download step: `built` (a plain `sam build` of
    the same answers, as the check job uploads it) lands in .aws-sam/build."""
    shutil.copytree(built, project / BUILT)
    _, step = step_running(deploy_job(project), "sam deploy")
    return bash(
        step["run"], project, deploy_step_env(url, home, Path(tool("sam")).parent)
    )


def change_set_template(calls: list[dict], objects: dict) -> dict:
    """The template the refused change set named, as uploaded."""
    (change_set,) = [c for c in calls if c["action"].endswith(":CreateChangeSet")]
    bucket, key = urlsplit(change_set["TemplateURL"]).path.lstrip("/").split("/", 1)
    ((_, body),) = objects[(bucket, key)]
    return yaml_parse(body.decode("utf-8"))


# Slow: real sam build, sam package and sam deploy runs (about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize("answers", SOURCES)
def test_deploy_step_updates_samconfigs_stack_from_the_bucket(
    bake, sam_builds, endpoint, tmp_path, answers
):
    """The deploy step's own script, on a stack deployed before: the artifacts go to
    the bucket of AWS_DEPLOY_BUCKET, the template names the object version this run
    uploaded, the change set goes to samconfig.toml's stack with its capabilities,
    the boundary and the layer's parameter as template.yaml names it (sam deploy
    would otherwise reuse the deployed values), and each call is one the role
    allows."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    template = load_cfn(project / "template.yaml")
    recorder.parameters = list(template.get("Parameters", {}))
    deployed = run_deploy_step(project, url, tmp_path, sam_builds(answers).parent)

    assert deployed.returncode != 0  # the endpoint refuses the change set
    assert "refused by the test's endpoint" in deployed.stderr + deployed.stdout
    calls = recorder.calls
    assert "s3:PutObject" in [c["action"] for c in calls]
    uploads = {c["bucket"] for c in calls if c["action"].startswith("s3:")}
    assert uploads == {"artifact-bucket"}
    (change_set,) = [c for c in calls if c["action"].endswith(":CreateChangeSet")]
    assert change_set["StackName"] == stack_name(project)
    assert change_set["ChangeSetType"] == "UPDATE"
    assert change_set["ChangeSetName"].startswith("samcli-deploy")
    assert change_set["TemplateURL"].split("/")[3] == "artifact-bucket"
    assert change_set["Capabilities.member.1"] == "CAPABILITY_IAM"
    given = {
        change_set[key]: change_set.get(key.replace("Key", "Value"), "previous")
        for key in change_set
        if key.startswith("Parameters.member.") and key.endswith(".ParameterKey")
    }
    assert given["FunctionPermissionsBoundary"] == BOUNDARY_ARN
    if "PowertoolsLayerArn" in recorder.parameters:
        layer = f"/aws/service/powertools/python/{answers['architecture']}"
        assert (
            given["PowertoolsLayerArn"]
            == f"{layer}/{answers['runtime']}/{POWERTOOLS_VERSION}"
        )
    # The code the change set deploys: the version this run put, by its id.
    code = change_set_template(calls, recorder.objects)["Resources"][
        "HelloWorldFunction"
    ]["Properties"]["CodeUri"]
    (upload,) = [
        c for c in calls if c["action"] == "s3:PutObject" and c["key"] == code["Key"]
    ]
    assert code == {
        "Bucket": "artifact-bucket",
        "Key": upload["key"],
        "Version": upload["version"],
    }
    made = {c["action"] for c in calls}
    assert made <= SAM_DEPLOY_CALLS
    assert made <= set(policy_actions(load_role(project)["Resources"]))


# Slow: real sam build, sam package and sam deploy runs (about 30 s).
@pytest.mark.slow
@pytest.mark.parametrize("answers", SOURCES[:1])
def test_deploy_step_never_deploys_an_object_planted_under_its_key(
    bake, sam_builds, endpoint, tmp_path, answers
):
    """An object put under an artifact's key after a deploy (the same key: the same
    build) is not what the next deploy runs: the step uploads its build again and
    names that version; the planted one stays a version nobody names."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    recorder.parameters = ["FunctionPermissionsBoundary", "PowertoolsLayerArn"]
    built = sam_builds(answers).parent
    done = run_deploy_step(project, url, tmp_path, built)
    assert "refused by the test's endpoint" in done.stderr + done.stdout, done.stderr
    first = change_set_template(recorder.calls, recorder.objects)
    key = first["Resources"]["HelloWorldFunction"]["Properties"]["CodeUri"]["Key"]
    recorder.objects[("artifact-bucket", key)].append(("planted", b"not our code"))
    recorder.calls.clear()
    for template_key in [k for k in recorder.objects if k[1].endswith(".template")]:
        del recorder.objects[template_key]  # a fresh template upload to read back

    shutil.rmtree(project / BUILT)  # the next run's download
    run_deploy_step(project, url, tmp_path, built)
    again = change_set_template(recorder.calls, recorder.objects)
    code = again["Resources"]["HelloWorldFunction"]["Properties"]["CodeUri"]
    assert code["Key"] == key
    versions = [v for v, _ in recorder.objects[("artifact-bucket", key)]]
    assert versions[-2] == "planted" and code["Version"] == versions[-1]


def api_url_step(project: Path) -> dict:
    _, step = step_running(deploy_job(project), "describe_stacks")
    return step


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_api_url_step_reads_samconfigs_stack_and_fails_without_it(
    bake, endpoint, tmp_path, answers
):
    """The step that hands the API's URL to the integration job reads the output of
    samconfig.toml's stack; a stack without it fails the step."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    env = {**aws_env(url, tmp_path), "GITHUB_OUTPUT": str(tmp_path / "out")}
    failed = bash(api_url_step(project)["run"], project, env)
    assert failed.returncode != 0, failed.stdout
    recorder.outputs = {
        "ApiUrl": "https://abc.execute-api.eu-west-1.amazonaws.com/Prod/"
    }
    read = bash(api_url_step(project)["run"], project, env)
    assert read.returncode == 0, read.stderr
    assert (tmp_path / "out").read_text() == (
        "api_url=https://abc.execute-api.eu-west-1.amazonaws.com/Prod/\n"
    )
    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", stack_name(project))
    }


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_api_url_step_follows_a_stack_name_sam_deploy_guided_saved(
    bake, endpoint, tmp_path, answers
):
    """`sam deploy --guided` saves its answers in samconfig.toml's deploy section,
    which sam deploy prefers to the global one: the step follows it there."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    config = project / "samconfig.toml"
    text = config.read_text(encoding="utf-8").replace(
        "[default.deploy.parameters]\n",
        '[default.deploy.parameters]\nstack_name = "chosen-at-guided-deploy"\n',
    )
    config.write_text(text, encoding="utf-8")
    env = {**aws_env(url, tmp_path), "GITHUB_OUTPUT": str(tmp_path / "out")}
    bash(api_url_step(project)["run"], project, env)

    assert {(c["action"], c["StackName"]) for c in recorder.calls} == {
        ("cloudformation:DescribeStacks", "chosen-at-guided-deploy")
    }


@pytest.mark.parametrize("answers", SOURCES[:1])
def test_integration_job_tests_the_url_it_is_given_without_aws(
    bake, endpoint, tmp_path, answers
):
    """The integration job's tests run (not skip) against API_URL, make no AWS call
    (the job has no credentials), and their failure fails the step: here the URL
    answers every request with an error."""
    url, recorder = endpoint
    project = working_copy(bake, answers, tmp_path)
    job = load_workflow(project / WORKFLOW)["jobs"]["integration"]
    _, step = step_running(job, "pytest tests/integration")
    env = {**aws_env(url, tmp_path), "API_URL": f"{url}/Prod/"}
    tested = bash(step["run"], project, env)

    assert tested.returncode != 0, tested.stdout
    assert "skipped" not in tested.stdout.splitlines()[-1], tested.stdout
    assert [c for c in recorder.calls if c["action"].startswith("cloudformation")] == []
