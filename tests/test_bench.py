"""The bench's published tables and its subject names (bench/README.md).

The tables in bench/README.md are generated from the committed raw results
(bench/results/*.json); a row's name is the --subjects item that measures it
again. These checks need no build and no measurement.
"""

from __future__ import annotations

import ast
import re
import shutil
import subprocess
import sys

import pytest

from bench import build, report
from matrix import ROOT
from support.renders import baked_project


def bench(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bench", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )


def test_readme_tables_are_the_committed_data():
    result = bench("report", "--check")
    assert result.returncode == 0, result.stderr


def test_check_fails_when_a_table_is_edited(tmp_path):
    readme = tmp_path / "README.md"
    text = (ROOT / "bench" / "README.md").read_text("utf-8")
    row = re.search(r"^\| `default` \| (\d+) \|.*$", text, re.M)
    edited = row.group(0).replace(row.group(1), str(int(row.group(1)) + 1), 1)
    readme.write_text(text.replace(row.group(0), edited), "utf-8")
    result = bench("report", "--check", "--readme", str(readme))
    assert result.returncode == 1
    assert "differs from the data" in result.stderr


def test_check_fails_when_the_defaults_or_a_row_name_changed():
    data = report.load(next(report.RESULTS.glob("*.json")).stem)
    assert report.problems(data, "x") == []
    flipped = dict(data["meta"]["defaults"])
    flipped["tracing"] = not flipped["tracing"]
    stale = {**data, "meta": {**data["meta"], "defaults": flipped}}
    assert "measured with the defaults" in report.problems(stale, "x")[0]
    renamed = {**data, "subjects": [{**data["subjects"][0], "label": "none"}]}
    assert report.problems(renamed, "x") == [
        "results/x.json: `none` measures other answers"
    ]


def test_row_names_name_their_subjects_again():
    listed = bench("subjects", "levers,all")
    assert listed.returncode == 0, listed.stderr
    labels = listed.stdout.splitlines()
    assert labels[0] == "default"
    assert len(set(labels)) == len(labels) > 30
    again = bench("subjects", ",".join(labels))
    assert again.stdout.splitlines() == labels


def test_a_template_revision_is_a_subject_of_its_own(tmp_path):
    """`template=REV` renders from that git revision: a change's before, measured
    beside its after."""
    listed = bench("subjects", "L,L template=HEAD")
    assert listed.stdout.splitlines() == ["L", "L template=HEAD"], listed.stderr
    tree = build.template_tree("HEAD", tmp_path)
    committed = subprocess.run(
        ["git", "show", "HEAD:cookiecutter.json"], cwd=ROOT, capture_output=True
    ).stdout
    assert (tree / "cookiecutter.json").read_bytes() == committed
    assert build.template_tree("HEAD", tmp_path) == tree  # made once


@pytest.mark.parametrize(
    "item, message",
    [
        ("L+X", '"L+X" is not a name nor key=value'),
        ("default colour=red", '"colour=red": no such option'),
        ("powertools_source=conda", '"powertools_source=conda": one of layer, pip'),
        ("none patch_modules=none", "patch_modules needs tracing"),
    ],
)
def test_a_bad_subject_is_one_line_naming_it(item, message):
    result = bench("run", "--subjects", item)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"bench: --subjects {item!r}: {message}"]


@pytest.mark.parametrize("value, keywords", [("none", ["patch_modules"]), ("all", [])])
def test_patch_modules_rewrites_the_rendered_tracer(bake, tmp_path, value, keywords):
    project = baked_project(bake, {"tracing": True})
    app = tmp_path / "app.py"
    shutil.copy(project / "hello_world" / "app.py", app)
    build.set_patch_modules(app, value)
    calls = [
        node
        for node in ast.walk(ast.parse(app.read_text("utf-8")))
        if isinstance(node, ast.Call) and getattr(node.func, "id", "") == "Tracer"
    ]
    assert [k.arg for k in calls[0].keywords if k.arg == "patch_modules"] == keywords
    if value == "none":
        assert ast.unparse(calls[0].keywords[-1].value) == "()"


def test_readme_performance_summary_is_the_committed_data():
    """README.md quotes bench/results/full.json: the default's ratios, the layer
    beside it, and the fastest build's ratios; the goals are bench/README.md's."""
    section = (ROOT / "README.md").read_text(encoding="utf-8")
    section = section[section.index("## Performance") :]
    section = " ".join(section[: section.index("\n## ", 3)].split())
    data = report.load("full")
    rows = {row["label"]: row for row in data["subjects"]}
    tutorial = rows["tutorial"]
    default = report.ratios(rows["default"], tutorial)
    fastest = report.ratios(
        rows["default powertools_source=pip build_method=makefile"], tutorial
    )
    layer_mb = rows["default"]["layer_bytes"] / 1e6
    artifact_mb = rows["default"]["artifact_bytes"] / 1e6
    for quoted in (
        f"cold init {default['cold init']:.2f}×",
        f"artifact {artifact_mb:.0f} MB (+{layer_mb:.1f} MB layer)",
        f"warm invoke {default['warm invoke']:.2f}×.",
        f"cold init {fastest['cold init']:.2f}×, artifact {fastest['artifact']:.2f}×",
        "](bench/README.md)",
    ):
        assert quoted in section, quoted
    assert "goal" not in section.replace("the goals:", "")
    goals = report.goals(rows["default"], tutorial)
    assert "warm invoke" in goals and "(goal ≤ 0.8×: " in goals
    assert goals in (ROOT / "bench" / "README.md").read_text(encoding="utf-8")
