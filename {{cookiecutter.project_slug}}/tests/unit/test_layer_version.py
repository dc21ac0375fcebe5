"""The Powertools layer in template.yaml is the version the tests install.

An update of aws-lambda-powertools in requirements-dev.txt does not reach the
layer's version in template.yaml (the last part of the path of Powertools' public
SSM parameter): this test fails until both name the same version.
"""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LAYER_PARAMETER = re.compile(r"/aws/service/powertools/python/[\w.]+/[\w.]+/([\w.]+)")
PIN = re.compile(r"^aws-lambda-powertools(?:\[[\w,]+\])?==([\w.]+)$", re.MULTILINE)


def test_the_layer_is_the_pinned_powertools_version():
    template = (ROOT / "template.yaml").read_text(encoding="utf-8")
    requirements = (ROOT / "requirements-dev.txt").read_text(encoding="utf-8")
    (pinned,) = PIN.findall(requirements)
    layer_versions = set(LAYER_PARAMETER.findall(template))
    assert layer_versions == {pinned}, (
        f"template.yaml's Powertools layer is {sorted(layer_versions)}, "
        f"requirements-dev.txt pins {pinned}: put {pinned} at the end of the layer's "
        "/aws/service/powertools/python/... path in template.yaml"
    )
