"""Reading the generated Markdown as GitHub shows it (CommonMark with tables and
strikethrough): how a README opens, and a page's shell blocks."""

from __future__ import annotations

import functools
import re
import textwrap
from collections.abc import Sequence

from markdown_it import MarkdownIt
from markdown_it.token import Token

MARKDOWN = MarkdownIt("commonmark").enable(["table", "strikethrough"])


@functools.cache
def markdown_tokens(text: str) -> tuple[Token, ...]:
    """MARKDOWN's tokens of a text, parsed once per distinct text in a process (the
    matrix repeats each page; the tokens are read, never changed)."""
    return tuple(MARKDOWN.parse(text))


# A generated README opens with its title, then one paragraph: the description.
OPENING = [
    "heading_open",
    "inline",
    "heading_close",
    "paragraph_open",
    "inline",
    "paragraph_close",
]


def opening(tokens: Sequence[Token]) -> tuple[Token, Token]:
    """The title's and the description's inline tokens of a README parsed by
    MARKDOWN, which must open with them (the title a level-1 heading)."""
    assert [t.type for t in tokens[: len(OPENING)]] == OPENING
    assert tokens[0].tag == "h1"
    return tokens[1], tokens[4]


def page_block(page: str, command: str) -> str:
    """The page's bash block that runs `command`."""
    (block,) = [
        b for b in re.findall(r"```bash\n(.*?)```", page, re.DOTALL) if command in b
    ]
    return textwrap.dedent(block)


# The answers the generated README's "What was selected" table leaves out, and
# where the README shows them instead; it has a row for every other answer.
SHOWN_ABOVE_THE_TABLE = {"project_name": "the title", "description": "the first line"}


def selection_table(readme: str) -> dict[str, str]:
    """The generated README's "What was selected": answer -> its value cell."""
    section = readme[readme.index("## What was selected\n") :]
    section = section[: section.index("\n## ")]
    return dict(re.findall(r"^\| `(\w+)`[^|]*\| (.*) \|$", section, re.MULTILINE))
