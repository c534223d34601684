"""Turn ``--context`` arguments (files, folders, globs, ``-``) into a ``Context``."""

from __future__ import annotations

import glob
import os
import sys
from pathlib import Path

from rlm_core._text_files import is_text_file, text_files_in
from rlm_core.context import Context


class UsageError(Exception):
    """A bad command line: printed as ``rlm: error: ...`` with exit code 2."""


def check_output_path(flag: str, path: str) -> None:
    """``UsageError`` now if ``path`` clearly cannot be written (before any model call)."""
    target = Path(path).expanduser()
    if target.is_dir():
        raise UsageError(f"{flag} {path!r} is a folder: give a file name")
    folder = target.parent
    if not folder.is_dir():
        raise UsageError(f"{flag} {path!r}: the folder {str(folder)!r} does not exist")
    if not os.access(folder, os.W_OK):
        raise UsageError(f"{flag} {path!r}: the folder {str(folder)!r} is not writable")


def expand_paths(specs: list[str]) -> list[Path]:
    """Every text file named by ``specs``, in order, without duplicates."""
    files: list[Path] = []
    for spec in specs:
        if any(char in spec for char in "*?["):
            matches = sorted(Path(m) for m in glob.glob(spec, recursive=True))
            matches = [m for m in matches if m.is_file()]
            if not matches:
                raise UsageError(f"--context {spec!r}: the pattern matches no files")
            files.extend(m for m in matches if is_text_file(m))
            continue
        path = Path(spec).expanduser()
        if not path.exists():
            raise UsageError(f"--context {spec!r}: no such file or folder")
        if path.is_dir():
            inside = text_files_in(path)
            if not inside:
                raise UsageError(f"--context {spec!r}: the folder holds no text files")
            files.extend(inside)
        elif not is_text_file(path):
            raise UsageError(f"--context {spec!r}: looks like a binary file; pass text files")
        else:
            files.append(path)
    unique: dict[Path, None] = {}
    for file in files:
        unique.setdefault(file.resolve(), None)
    return list(unique)


def load_context(specs: list[str]) -> tuple[Context, list[str]]:
    """The documents named by ``specs`` as one ``Context``, and their sources.

    ``-`` reads standard input. With several files each document starts with a
    ``=== path ===`` line so the model can tell them apart.
    """
    if not specs:
        raise UsageError("give at least one --context PATH (a file, folder, glob or -)")
    sources: list[str] = []
    documents: list[str] = []
    rest = [spec for spec in specs if spec != "-"]
    if len(rest) < len(specs):
        if sys.stdin.isatty():
            raise UsageError("--context - reads standard input, but nothing is piped in")
        documents.append(sys.stdin.read())
        sources.append("-")
    for path in expand_paths(rest):
        try:
            text = path.read_text(encoding="utf-8", errors="replace")
        except OSError as error:
            raise UsageError(f"cannot read {str(path)!r}: {error.strerror}") from None
        documents.append(text)
        sources.append(str(path))
    if not any(doc.strip() for doc in documents):
        where = "standard input holds" if sources == ["-"] else "the given files hold"
        raise UsageError(f"the context is empty: {where} no text")
    if len(documents) == 1:
        return Context.from_text(documents[0]), sources
    headed = [f"=== {src} ===\n{doc}" for src, doc in zip(sources, documents, strict=True)]
    return Context.from_documents(headed), sources
