"""Reading the generated Markdown: a page's shell blocks."""

from __future__ import annotations

import re
import textwrap


def page_block(page: str, command: str) -> str:
    """The page's bash block that runs `command`."""
    (block,) = [
        b for b in re.findall(r"```bash\n(.*?)```", page, re.DOTALL) if command in b
    ]
    return textwrap.dedent(block)
