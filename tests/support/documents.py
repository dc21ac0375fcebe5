"""Reading what was rendered: YAML as SAM CLI and PyYAML read it (on libyaml),
workflows, template.yaml after the SAM transform, the function's properties."""

from __future__ import annotations

from pathlib import Path

import pytest
import samcli.yamlhelper as samcli_yaml
import yaml
from yaml.resolver import BaseResolver

# The region the tests lint, validate and run the function for (`sam validate
# --lint` needs one).
REGION = "us-east-1"
FUNCTION = "HelloWorldFunction"


class CloudFormationLoader(yaml.CSafeLoader):
    """What SAM CLI's yaml_parse reads a template with (its constructors: short
    forms such as !Ref as CloudFormation's long ones, mappings as OrderedDict) on
    libyaml's parser instead of PyYAML's pure-Python one: ten times faster, for the
    tests that read every combination's templates.
    test_fast_yaml_reads_as_sam_cli checks the two give the same documents."""


CloudFormationLoader.add_constructor(
    BaseResolver.DEFAULT_MAPPING_TAG, samcli_yaml._dict_constructor
)

CloudFormationLoader.add_multi_constructor(
    "!", samcli_yaml.intrinsics_multi_constructor
)


def load_cfn(path: Path) -> dict:
    """A CloudFormation or SAM template, as SAM CLI reads it."""
    return parse_cfn(path.read_text(encoding="utf-8"))


def parse_cfn(text: str) -> dict:
    """A template's text, as SAM CLI's yaml_parse reads it."""
    return yaml.load(text, Loader=CloudFormationLoader)


def load_yaml(path: Path):
    """A YAML file, as yaml.safe_load reads it (libyaml's parser)."""
    return yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.CSafeLoader)


def load_workflow(path: Path) -> dict:
    """A GitHub Actions workflow file."""
    workflow = load_yaml(path)
    workflow["on"] = workflow.pop(True)  # YAML 1.1 reads the key `on` as True
    return workflow


def sam_transform_templates(templates: dict[str, Path]) -> dict[str, dict]:
    """Each template.yaml as CloudFormation after SAM's transform in REGION
    (samtranslator's transform(), no AWS calls), keyed like `templates`: the
    compute of conftest's sam_transform, which does each distinct template once in
    the run, whichever worker and test asks first."""
    from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
    from samtranslator.translator.transform import transform

    class NoManagedPolicyLookups(ManagedPolicyLoader):
        def __init__(self) -> None:  # no IAM client: it is never asked
            pass

        def load(self) -> dict[str, str]:
            raise AssertionError("the template names no managed policy to look up")

    results = {}
    # The transform reads the region (ARN partitions) from the environment.
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("AWS_DEFAULT_REGION", REGION)
        for key, template in templates.items():
            document = load_cfn(template)
            # The transform wants deployed code: the S3 URI plain `sam validate`
            # puts there (aws/aws-sam-cli
            # samcli/lib/translate/sam_template_validator.py _update_to_s3_uri),
            # so that both give the same document (test_sam_cli.py checks it).
            function = document["Resources"][FUNCTION]["Properties"]
            function["CodeUri"] = "s3://bucket/value"
            results[key] = transform(document, {}, NoManagedPolicyLookups())
    return results


def function_properties(template: Path) -> dict:
    """The function's Properties in the rendered template.yaml."""
    parsed = load_cfn(template)
    return parsed["Resources"][FUNCTION]["Properties"]


def environment_variables(properties: dict) -> dict[str, str]:
    """The Lambda environment variables of the function's Properties."""
    return {k: str(v) for k, v in properties["Environment"]["Variables"].items()}
