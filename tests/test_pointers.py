"""What the repository's comments and docs point to exists: the files they name (of
this repository, or of a generated project), the names they give in a Python file,
the tests and test modules they name, and the sections of a page. No comment or doc
names a file outside the repository: cite the primary source instead (a page's
title and address, or another repository and the path in it).

Where the pointers are: comments and docstrings of Python, comments of YAML, TOML,
requirements files, Makefiles, shell scripts and Jinja, and Markdown pages, of every
file git would commit. The forms read as pointers (write a pointer so, and it is
checked):

- a path with an extension, `docs/deploy.md`, `tests/support/renders.py`, or a bare
  file name, `dev.py`: it exists, relative to the repository's root, the generated
  project's ({{cookiecutter.project_slug}}/) or the naming file's folder; a bare
  name anywhere in the tree. A template file points into the generated project only.
  Another project's file is cited after its repository, `aws/aws-sam-cli
  samcli/lib/deploy/deployer.py`, or by a path whose first folder is neither
  tree's, the project named beside it: not checked.
- a Python file and a name: `matrix.py build_matrix()`, `noxfile.py MUTATIONS`,
  `RECORD_KEYS in tests/unit/test_logging.py` (a call's parentheses, or a name in
  capitals): the file defines it.
- a module of the repository and a name: `support.renders.Renders`,
  `matrix.DEFAULTS`: the module defines it; `support.renders`: the module exists.
- a test or a test module by name: `test_fast_yaml_reads_as_sam_cli`,
  `test_generation`: one is defined.
- a page and a section: `README.md, "Run the tests"`, `docs/deploy.md's "Roll
  back"`, `README's "Change an answer"`: the page has that heading.
"""

from __future__ import annotations

import ast
import io
import re
import subprocess
import tokenize
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from matrix import ROOT
from support.template import PROJECT_TEMPLATE

PROJECT = PROJECT_TEMPLATE.name
# Files named that are not there to be pointed at, each with the reason.
NAMED_NOT_POINTED = {
    # Made by the steps the generated docs give.
    "events/bye.json": "README's add-a-route steps make it",
    "hello_world/requirements.in": "docs/dependencies.md's steps make it",
    "requirements.in": "docs/dependencies.md's steps make it",
    # Written by a command while it runs.
    "packaged.yaml": "`sam package` writes it (pin_artifact_versions.py's usage)",
    "dev-py-setup.txt": "`dev.py setup` writes it in each environment",
    "results/NAME.json": "a placeholder: bench/results/<name>.json",
    # Files of other projects, named with their project beside them.
    "action.yml": "a GitHub action's metadata file (actions/upload-artifact's)",
}
EXTENSIONS = "py|md|ya?ml|toml|txt|json|jinja|in|cfg|sh|rb|java|js"
FILE = re.compile(
    rf"(?<![\w/.:@<-])((?:[\w.{{}}-]+/)*[\w{{}}][\w.{{}}-]*\.(?:{EXTENSIONS}))(?![\w/])"
)
NAMED = r"([A-Za-z_]\w*\(\)|[A-Z][A-Z0-9_]+\b)"
NAME_IN_FILE = re.compile(rf"([\w./{{}}-]+\.py)`?'?s?,? `?{NAMED}")
NAME_IN = re.compile(rf"`?{NAMED}`? in `?([\w./{{}}-]+\.py)")
MODULE = re.compile(
    r"(?<![\w.])(matrix|noxfile|conftest|(?:support|bench)\.[a-z_]+)(?:\.(\w+))?\b"
)
TEST = re.compile(r"(?<![\w./-])(test_\w*[a-z0-9])(?![\w(]|\.py)")
# Just before a path: the repository it is in, `owner/name` (then the path).
CITED_REPOSITORY = re.compile(r"(?<![\w./-])[\w.-]+/[\w.-]+,?\s+`?$")
SECTION = re.compile(r"([\w./-]+\.md|README)(?:'s|,)? \"([^\"]+)\"")


@dataclass(frozen=True)
class Prose:
    path: str  # relative to the root of the tree scanned
    line: int
    text: str  # the line, and the next one
    own: int  # where the next line begins in text

    def find(self, pattern: re.Pattern) -> list[re.Match]:
        return [m for m in pattern.finditer(self.text) if m.start() < self.own]


def committed_files(root: Path) -> list[str]:
    """What git would commit here (tracked or new, not ignored)."""
    listed = subprocess.run(
        ["git", "ls-files", "--cached", "--others", "--exclude-standard"],
        cwd=root, capture_output=True, text=True, check=True,
    )  # fmt: skip
    return sorted(n for n in listed.stdout.splitlines() if (root / n).is_file())


def comments_and_docstrings(text: str) -> Iterator[tuple[int, str]]:
    """Comments and docstrings (a template's Python is read without its Jinja)."""
    try:
        tokens = list(tokenize.generate_tokens(io.StringIO(text).readline))
    except (tokenize.TokenError, SyntaxError):
        tokens = []
    for token in tokens:
        if token.type == tokenize.COMMENT:
            yield token.start[0], token.string
    plain = re.sub(r"\{%.*?%\}|\{\{.*?\}\}", "x", text)
    try:
        tree = ast.parse(plain)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
            docstring = ast.get_docstring(node, clean=False)
            if docstring:
                first = node.body[0].lineno
                for offset, line in enumerate(docstring.splitlines()):
                    yield first + offset, line


def prose_lines(path: Path) -> Iterator[tuple[int, str]]:
    """The prose of a file, line by line, without Jinja's statements (code)."""
    text = path.read_text(encoding="utf-8", errors="replace")
    text = re.sub(r"\{%.*?%\}", "", text)
    if path.suffix == ".md":
        yield from enumerate(text.splitlines(), 1)
    elif path.suffix == ".py":
        yield from comments_and_docstrings(text)
    elif path.suffix != ".json":
        for number, line in enumerate(text.splitlines(), 1):
            found = re.search(r"(?:^|\s)#(?!\{)\s?(.*)$|\{#(.*?)#\}", line)
            if found:
                yield number, found[1] if found[1] is not None else found[2]


def with_next(lines: list[tuple[int, str]]) -> Iterator[tuple[int, str, int]]:
    """Each line with the next one joined (a pointer may wrap), and where the next
    begins: a pointer is the line's if it starts before that."""
    texts = [(n, t.strip().lstrip("#").strip()) for n, t in lines]
    for index, (number, text) in enumerate(texts):
        following = ""
        if index + 1 < len(texts) and texts[index + 1][0] == number + 1:
            following = texts[index + 1][1]
        yield number, f"{text} {following}".rstrip(), len(text)


def everything(root: Path) -> list[Prose]:
    found = []
    for name in committed_files(root):
        lines = list(prose_lines(root / name))
        found += [Prose(name, *line) for line in with_next(lines)]
    return found


class Tree:
    """The repository scanned: its files, and what its Python defines."""

    def __init__(self, root: Path):
        self.root = root
        self.files = committed_files(root)
        self.names = {Path(f).name for f in self.files}
        self.project_names = {
            Path(f).name for f in self.files if f.startswith(PROJECT + "/")
        }
        self.tops = {f.split("/")[0] for f in self.files}
        self.project_tops = {
            f.split("/")[1] for f in self.files if f.startswith(PROJECT + "/")
        }
        self.tests: set[str] = set()
        # The constants of its Python: a name in capitals names one of them only
        # if it is one somewhere (usage lines name placeholders: EVENT_JSON).
        self.constants: set[str] = set()
        for f in self.files:
            if not f.endswith(".py"):
                continue
            text = (root / f).read_text(encoding="utf-8")
            self.constants |= set(re.findall(r"^([A-Z][A-Z0-9_]+)\s*[:=]", text, re.M))
            if "/test" in f"/{f}":
                self.tests |= set(re.findall(r"^\s*def (test\w+)", text, re.M))
                self.tests.add(Path(f).stem)

    def resolve(self, referrer: str, pointer: str) -> Path | None:
        """The file a pointer names, or None; a pointer into another project
        (its first folder is neither tree's) is its own answer."""
        in_project = referrer.startswith(PROJECT + "/")
        project = self.root / PROJECT
        bases = [project] if in_project else [self.root, project]
        bases.append((self.root / referrer).parent)
        for base in bases:
            if (base / pointer).is_file():
                return base / pointer
        if "/" not in pointer:
            names = self.project_names if in_project else self.names
            if pointer in names:
                return Path(pointer)
            return None
        first = pointer.split("/")[0]
        if first not in self.project_tops | (set() if in_project else self.tops):
            return Path(pointer)  # another project's file: cited, not checked
        return None

    def defines(self, path: Path, name: str) -> bool:
        name = name.removesuffix("()")
        text = path.read_text(encoding="utf-8")
        pattern = rf"^\s*(?:async\s+)?(?:def|class)\s+{name}\b|^{name}\s*[:=]"
        return re.search(pattern, text, re.MULTILINE) is not None

    def module(self, dotted: str) -> Path | None:
        if dotted in ("matrix", "noxfile"):
            return self.root / f"{dotted}.py"
        if dotted == "conftest":
            return self.root / "tests" / "conftest.py"
        package, _, module = dotted.partition(".")
        folder = self.root / ("tests/support" if package == "support" else "bench")
        path = folder / f"{module}.py"
        return path if path.is_file() else None


def headings(path: Path) -> set[str]:
    text = path.read_text(encoding="utf-8")
    return {h.strip() for h in re.findall(r"^#+ (.+)$", text, re.MULTILINE)}


def stale(tree: Tree, prose: list[Prose]) -> list[str]:
    """Every pointer that names nothing: 'file:line: pointer'."""
    wrong = []
    for item in prose:
        where = f"{item.path}:{item.line}"
        for found in item.find(FILE):
            pointer = found[1]
            if pointer in NAMED_NOT_POINTED or re.search(r"\{\{ |\{%", pointer):
                continue
            if CITED_REPOSITORY.search(item.text[: found.start()]):
                continue
            if tree.resolve(item.path, pointer) is None:
                wrong.append(f"{where}: {pointer}")
        pairs = [(f[1], f[2]) for f in item.find(NAME_IN_FILE)]
        pairs += [(f[2], f[1]) for f in item.find(NAME_IN)]
        for pointer, name in pairs:
            if name.isupper() and name not in tree.constants:
                continue
            path = tree.resolve(item.path, pointer)
            if path is not None and path.is_absolute() and not tree.defines(path, name):
                wrong.append(f"{where}: {pointer} {name}")
        for found in item.find(MODULE):
            path = tree.module(found[1])
            if path is None:
                wrong.append(f"{where}: {found[1]}")
            elif found[2] and found[2] != "py" and not tree.defines(path, found[2]):
                wrong.append(f"{where}: {found[1]}.{found[2]}")
        for found in item.find(TEST):
            if found[1] not in tree.tests:
                wrong.append(f"{where}: {found[1]}")
        for found in item.find(SECTION):
            page = found[1] if found[1].endswith(".md") else "README.md"
            path = tree.resolve(item.path, page)
            if path is None or not path.is_absolute():
                continue  # a missing page is reported above
            pages = [path]
            if path == tree.root / page and (tree.root / PROJECT / page).is_file():
                pages.append(tree.root / PROJECT / page)  # README's: either one
            if not any(found[2] in headings(p) for p in pages):
                wrong.append(f'{where}: {page} "{found[2]}"')
    return wrong


@pytest.fixture(scope="module")
def scanned() -> Tree:
    return Tree(ROOT)


def test_every_pointer_names_what_exists(scanned):
    assert stale(scanned, everything(ROOT)) == []


def test_named_not_pointed_are_still_named():
    """Each exception is still needed: some file names it."""
    text = "\n".join(p.text for p in everything(ROOT))
    assert [n for n in NAMED_NOT_POINTED if n not in text] == []


STALE = {
    "noxfile.py": "# tests/conftest.py isolated_tool() runs them from there.\n",
    "tests/test_x.py": (
        '"""The layer stand-in of test_sam_cli.py (FACTS.md section 9); the\n'
        "role's tags: test_role_tags_only_what_sam_gives; support.gone;\n"
        'support.renders.Nothing; see README.md, "No such section"."""\n'
    ),
    "{{cookiecutter.project_slug}}/template.yaml": (
        "# What it does: tests/test_delivery.py keeps the list.\n"
        "# Cited: samcli/lib/deploy/deployer.py, dev.py, docs/a.md, and\n"
        "# aws/aws-sam-cli tests/unit/test_x.py; not tests/unit/test_y.py.\n"
    ),
}


def test_the_check_finds_each_kind_of_stale_pointer(tmp_path):
    """Not blind: a copy of part of the repository with a stale pointer of each
    kind is told every one, and only those."""
    for name in ("matrix.py", "noxfile.py", "tests/conftest.py", "README.md"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text((ROOT / name).read_text("utf-8"), "utf-8")
    (tmp_path / "tests/support").mkdir()
    (tmp_path / "tests/support/renders.py").write_text("def bake():\n    pass\n")
    for name in ("dev.py", "docs/a.md", "tests/unit/test_handler.py"):
        (tmp_path / PROJECT / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / PROJECT / name).write_text("# A.\n", "utf-8")
    for name, text in STALE.items():
        (tmp_path / name).write_text(text, "utf-8")
    subprocess.run(["git", "init", "-q"], cwd=tmp_path, check=True)
    tree = Tree(tmp_path)
    scanned = [p for p in everything(tmp_path) if p.path in STALE]
    assert sorted(stale(tree, scanned)) == sorted(
        [
            "noxfile.py:1: tests/conftest.py isolated_tool()",
            "tests/test_x.py:1: test_sam_cli.py",
            "tests/test_x.py:1: FACTS.md",
            "tests/test_x.py:2: test_role_tags_only_what_sam_gives",
            "tests/test_x.py:2: support.gone",
            "tests/test_x.py:3: support.renders.Nothing",
            'tests/test_x.py:3: README.md "No such section"',
            "{{cookiecutter.project_slug}}/template.yaml:1: tests/test_delivery.py",
            "{{cookiecutter.project_slug}}/template.yaml:3: tests/unit/test_y.py",
        ]
    )
