"""Reading pinned requirement files: a requirements file's lines (-r expanded), and
the hashed lock of the SAM CLI (requirements-sam.txt)."""

from __future__ import annotations

import re
from pathlib import Path


def requirement_lines(path: Path) -> list[str]:
    """Non-comment lines of a requirements file, with -r files expanded."""
    lines = []
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("-r "):
            lines.extend(requirement_lines(path.parent / line[3:].strip()))
        else:
            lines.append(line)
    return lines


LOCK = "requirements-sam.txt"
# --- the SAM CLI's lock (requirements-sam.txt) ---

LOCK_REQUIREMENT = re.compile(
    r"^(?P<name>[A-Za-z0-9][\w.-]*)==(?P<version>\S+)(?: ; (?P<marker>[^\\]+?))? \\\n"
    r"(?P<hashes>(?:    --hash=sha256:[0-9a-f]{64}(?: \\)?\n)+)",
    re.MULTILINE,
)


def lock_pins(lock: str) -> list[re.Match]:
    return list(LOCK_REQUIREMENT.finditer(lock))


def lock_command(lock: str) -> str:
    """The command the lock's header says made it."""
    (command,) = re.findall(r"^#    (uv pip compile .*)$", lock, re.MULTILINE)
    return command
