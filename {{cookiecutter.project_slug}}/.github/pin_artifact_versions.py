"""Pin each artifact of a packaged template to the S3 object version just uploaded.

`sam package --force-upload` has put each artifact under a key named by its content.
Naming the version as well makes the deploy, and any later rollback to it, read that
very object: an object put under the same key afterwards becomes a newer version that
no template names. Run with the deploy role's credentials, which may read the bucket
but never delete from it.

Usage: python .github/pin_artifact_versions.py packaged.yaml
"""

import sys
from pathlib import Path

import boto3
from samcli.yamlhelper import yaml_dump, yaml_parse

# Resource type -> its property holding the artifact's s3:// URI.
ARTIFACTS = {"AWS::Serverless::Function": "CodeUri"}


def pin(template: dict, s3) -> list[str]:
    pinned = []
    for name, resource in template["Resources"].items():
        prop = ARTIFACTS.get(resource["Type"])
        uri = resource.get("Properties", {}).get(prop) if prop else None
        if not isinstance(uri, str) or not uri.startswith("s3://"):
            continue
        bucket, key = uri.removeprefix("s3://").split("/", 1)
        version = s3.head_object(Bucket=bucket, Key=key)["VersionId"]
        location = {"Bucket": bucket, "Key": key, "Version": version}
        resource["Properties"][prop] = location
        pinned.append(f"{name}: s3://{bucket}/{key} version {version}")
    return pinned


def main(path: str) -> int:
    packaged = Path(path)
    template = yaml_parse(packaged.read_text(encoding="utf-8"))
    pinned = pin(template, boto3.client("s3"))
    if not pinned:
        print(f"error: no uploaded artifact in {path}", file=sys.stderr)
        return 1
    packaged.write_text(yaml_dump(template), encoding="utf-8")
    print("\n".join(pinned))
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
