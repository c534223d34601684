"""Finding the text files a user points at: shared by ``rlm ask`` and ``rlm batch``."""

from __future__ import annotations

from pathlib import Path

SKIP_DIRS = {".git", ".hg", ".svn", "__pycache__", "node_modules", ".venv", ".mypy_cache"}
BINARY_PROBE = 8192


def is_text_file(path: Path) -> bool:
    """False for files with a NUL byte in their first ``BINARY_PROBE`` bytes."""
    with path.open("rb") as handle:
        return b"\0" not in handle.read(BINARY_PROBE)


def text_files_in(folder: Path) -> list[Path]:
    """The text files below ``folder``, sorted, skipping hidden and tool folders."""
    found = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).parts
        if any(part in SKIP_DIRS or part.startswith(".") for part in relative):
            continue
        if path.is_file() and is_text_file(path):
            found.append(path)
    return found
