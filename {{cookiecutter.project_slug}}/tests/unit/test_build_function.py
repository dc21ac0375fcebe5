"""The build script sam build runs (hello_world/Makefile): what it leaves out of the
artifact and the bytecode it writes. No network: distributions are faked."""

import importlib.util
import sys
from pathlib import Path

import build_function


def fake_distribution(target: Path, name: str, requires: list[str]) -> None:
    """A distribution as pip --target installs it: a module and its dist-info."""
    module = name.replace("-", "_")
    (target / module).mkdir()
    (target / module / "__init__.py").write_text("", encoding="utf-8")
    info = target / f"{module}-1.0.dist-info"
    info.mkdir()
    metadata = [f"Name: {name}", "Version: 1.0"]
    metadata += [f"Requires-Dist: {r}" for r in requires]
    (info / "METADATA").write_text("\n".join(metadata) + "\n", encoding="utf-8")
    record = [f"{module}/__init__.py,,"]
    record += [f"{info.name}/{file},," for file in ("METADATA", "RECORD")]
    (info / "RECORD").write_text("\n".join(record) + "\n", encoding="utf-8")


def install_like_powertools_with_tracer(target: Path) -> None:
    fake_distribution(
        target,
        "aws-lambda-powertools",
        ["jmespath<2", "typing-extensions", 'aws-xray-sdk; extra == "tracer"'],
    )
    fake_distribution(target, "aws-xray-sdk", ["botocore>=1.11.3", "wrapt"])
    fake_distribution(target, "botocore", ["jmespath", "python-dateutil", "urllib3"])
    fake_distribution(target, "python-dateutil", ["six>=1.5"])
    for name in ("jmespath", "six", "typing-extensions", "urllib3", "wrapt"):
        fake_distribution(target, name, [])


def test_leaves_out_botocore_and_what_only_it_needs(tmp_path):
    install_like_powertools_with_tracer(tmp_path)

    removed = build_function.provided_by_runtime(tmp_path, requested=set())

    # jmespath stays: Powertools itself requires it.
    assert removed == ["botocore", "python-dateutil", "six", "urllib3"]


def test_keeps_what_another_dependency_or_requirements_txt_needs(tmp_path):
    install_like_powertools_with_tracer(tmp_path)
    fake_distribution(tmp_path, "requests", ["urllib3<3"])

    assert build_function.provided_by_runtime(tmp_path, requested={"botocore"}) == []
    removed = build_function.provided_by_runtime(tmp_path, requested=set())
    assert "urllib3" not in removed


def test_removal_deletes_the_distribution_files(tmp_path):
    install_like_powertools_with_tracer(tmp_path)

    build_function.remove_distribution(tmp_path, "botocore")

    assert not (tmp_path / "botocore").exists()
    assert not (tmp_path / "botocore-1.0.dist-info").exists()
    assert (tmp_path / "wrapt").exists()


def test_requirement_names_skip_comments_and_options():
    lines = ["# a comment", "--only-binary=:all:", "Foo_Bar[x]==1.0  # pinned", ""]
    assert build_function.requirement_names(lines) == {"foo-bar"}


def test_bytecode_is_checked_hash_for_this_python(tmp_path):
    (tmp_path / "module.py").write_text("VALUE = 1\n", encoding="utf-8")

    assert build_function.compile_bytecode(tmp_path)

    (pyc,) = (tmp_path / "__pycache__").glob("module.*.pyc")
    assert pyc.name == f"module.{sys.implementation.cache_tag}.pyc"
    header = pyc.read_bytes()[:8]
    assert header[:4] == importlib.util.MAGIC_NUMBER
    # PEP 552 flags: bit 0 hash-based, bit 1 check_source.
    assert int.from_bytes(header[4:8], "little") == 0b11
