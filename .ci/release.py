"""Is this commit a release? The decision of the release job in
.github/workflows/ci.yml (CONTRIBUTING.md, "Release"), here so it can be run and
tested offline.

pyproject.toml's `[project] version`, X.Y.Z, is released as the tag vX.Y.Z when

- no tag vX.Y.Z exists yet;
- CHANGELOG.md has its heading, `## [X.Y.Z] - YYYY-MM-DD`, over a section that is not
  empty: that section is the release's notes;
- nothing is listed under `## [Unreleased]`: the commit is the release its section
  describes, not a later commit that brings changes the notes do not name;
- X.Y.Z is newer than every vA.B.C tag.

    python .ci/release.py [--repository DIR] [--notes FILE]

When the commit is a release: prints `tag=vX.Y.Z` on stdout (the job appends it to
$GITHUB_OUTPUT) and writes the notes to FILE. When the version is already tagged (a
push without a version bump): prints nothing on stdout and exits 0. Anything else is
a mistake to fix before anything is tagged: one line on stderr naming the file and
the rule, exit status 1. Standard library and git only.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tomllib
from pathlib import Path

VERSION = re.compile(r"(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
TAG = re.compile(r"v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)")
HEADING = re.compile(r"^## \[([^\]]+)\].*$", re.MULTILINE)
# Keep a Changelog's link definitions, `[0.1.0]: https://...`, close the file.
LINK_DEFINITION = re.compile(r"^\[[^\]]+\]:\s*\S+")
RULES = "CONTRIBUTING.md, Release"


class NotReleasable(Exception):
    """A mistake that stops the release, said in one line."""


def numbers(version: str) -> tuple[int, ...]:
    return tuple(int(part) for part in version.split("."))


def project_version(repository: Path) -> str:
    pyproject = tomllib.loads((repository / "pyproject.toml").read_text("utf-8"))
    version = pyproject.get("project", {}).get("version")
    if not isinstance(version, str) or not VERSION.fullmatch(version):
        raise NotReleasable(
            f"pyproject.toml: [project] version {version!r} is not X.Y.Z "
            "(Semantic Versioning, no pre-release part)"
        )
    return version


def release_tags(repository: Path) -> list[str]:
    """The vX.Y.Z tags of the repository (other tags are none of ours)."""
    listed = subprocess.run(
        ["git", "-C", str(repository), "tag", "--list", "v*"],
        capture_output=True,
        text=True,
        check=False,
    )
    if listed.returncode != 0:
        detail = (listed.stderr.strip().splitlines() or ["no output"])[0]
        raise NotReleasable(f"git tag --list failed in {repository}: {detail}")
    return [tag for tag in listed.stdout.split() if TAG.fullmatch(tag)]


def sections(changelog: str) -> dict[str, str]:
    """Each `## [name]` heading's section: the text up to the next level-2
    heading, without the link definitions that close the file."""
    found = {}
    headings = list(HEADING.finditer(changelog))
    for heading, following in zip(headings, [*headings[1:], None], strict=True):
        end = following.start() if following else len(changelog)
        lines = changelog[heading.end() : end].strip("\n").splitlines()
        while lines and (not lines[-1].strip() or LINK_DEFINITION.match(lines[-1])):
            lines.pop()
        found[heading[1]] = "\n".join(lines).strip("\n")
    return found


def release_notes(changelog: str, version: str) -> str:
    """The notes of `version`: its section, which must exist and say something."""
    found = sections(changelog)
    if version not in found:
        raise NotReleasable(
            f'CHANGELOG.md has no "## [{version}]" heading for pyproject.toml\'s '
            f"version {version}, which has no tag: a version is released only with "
            f"its changelog section ({RULES})"
        )
    if not found[version].strip():
        raise NotReleasable(f'CHANGELOG.md: the "## [{version}]" section is empty')
    unreleased = {name.lower(): text for name, text in found.items()}.get(
        "unreleased", ""
    )
    listed = [
        line
        for line in unreleased.splitlines()
        if line.strip() and not line.startswith("### ")
    ]
    if listed:
        raise NotReleasable(
            f'CHANGELOG.md lists changes under "## [Unreleased]", so this commit is '
            f"not the release {version} its section describes: re-run the release job "
            f"of the commit that set {version}, or release the next version ({RULES})"
        )
    return found[version] + "\n"


def decide(repository: Path) -> tuple[str, str | None]:
    """(tag, notes) when this commit is a release, (tag, None) when its version
    is already tagged; NotReleasable otherwise."""
    version = project_version(repository)
    tag = f"v{version}"
    tags = release_tags(repository)
    if tag in tags:
        return tag, None
    newer = [t for t in tags if numbers(t[1:]) > numbers(version)]
    if newer:
        newest = max(newer, key=lambda t: numbers(t[1:]))
        raise NotReleasable(
            f"pyproject.toml's version {version} is older than the tag {newest}: "
            f"versions only go up ({RULES})"
        )
    changelog = (repository / "CHANGELOG.md").read_text(encoding="utf-8")
    return tag, release_notes(changelog, version)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repository", type=Path, default=Path("."))
    parser.add_argument("--notes", type=Path, help="where to write the notes")
    arguments = parser.parse_args(argv)
    try:
        tag, notes = decide(arguments.repository)
    except (NotReleasable, OSError, tomllib.TOMLDecodeError) as error:
        print(f"release: {error}", file=sys.stderr)
        return 1
    if notes is None:
        print(f"release: {tag} exists: nothing to release", file=sys.stderr)
        return 0
    if arguments.notes:
        arguments.notes.write_text(notes, encoding="utf-8")
    print(f"release: {tag}, with its CHANGELOG.md section as notes", file=sys.stderr)
    print(f"tag={tag}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
