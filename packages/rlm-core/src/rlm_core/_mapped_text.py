"""Text that stays on disk: UTF-8 files memory-mapped read-only, read like a ``str``.

``MappedFile`` maps one file and keeps a sparse index: the byte and character offset of
every block start (~64 KiB apart, moved back to a character boundary) and whether the
block is pure ASCII. A character offset becomes a byte offset by one bisection plus, in
a non-ASCII block, decoding at most that block; so offsets are exact for any UTF-8 text
without decoding the whole file. Full scans (building the index, searching) read the
file a window at a time and drop the pages they are done with from the process
(``MADV_DONTNEED``: they stay in the page cache), so resident memory stays bounded by the
window size however large the file is.

``MappedText`` joins several mapped files with a separator, as ``Context`` joins
documents, and offers what code does with the text: ``len``, indexing and slicing,
``find``/``rfind``/``index``/``count``/``in``, ``startswith``/``endswith`` and regular
expression search (``finditer``). Matches never span two documents. Whole-text ``str``
operations (``str(P)``, ``P.upper()``, ``P.split()``) are refused with a message saying
to slice or search first, since they would load the whole file.

This module is imported by the sandboxed REPL worker: it depends on nothing but
``rlm_core.errors``.
"""

from __future__ import annotations

import contextlib
import mmap
import os
import re
import stat
import weakref
from array import array
from bisect import bisect_right
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn

from rlm_core.errors import ContextError

BLOCK_BYTES = 1 << 16  # one index entry per block
WINDOW_BLOCKS = 128  # blocks owned by one search window (8 MiB)
OVERLAP_BLOCKS = 4  # blocks decoded past a window (256 KiB): the room a match has to end in
BINARY_PROBE = 8192
PAGE = mmap.PAGESIZE
MAX_CONTEXT_FILES = 250  # file descriptors one message can pass to the sandboxed worker


class FileChangedError(ContextError):
    """A mapped context file was modified, truncated or replaced during the run."""


@dataclass(frozen=True, slots=True)
class FileIndex:
    """The sparse offset index of one file (plain data: it is sent to the REPL worker)."""

    byte_starts: array[int]
    char_starts: array[int]
    ascii: bytes
    size: int
    chars: int
    mtime_ns: int
    inode: int


@dataclass(frozen=True, slots=True)
class Window:
    """Decoded text starting at char ``origin``; owns matches starting in [owned_start,
    owned_end)."""

    origin: int
    owned_start: int
    owned_end: int
    text: str


def _close_fd(fd: int) -> None:
    with contextlib.suppress(OSError):
        os.close(fd)


def _continuation(byte: int) -> bool:
    return (byte & 0xC0) == 0x80


class MappedFile:
    """One UTF-8 text file, mapped read-only, with its sparse character-offset index."""

    def __init__(self, path: str, *, fd: int | None = None, index: FileIndex | None = None):
        self.path = path
        owned = fd is None
        try:
            self.fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC) if fd is None else fd
        except FileNotFoundError:
            raise ContextError(f"context file {path!r} does not exist") from None
        except IsADirectoryError:
            raise ContextError(f"context file {path!r} is a folder; pass its files") from None
        except OSError as error:
            raise ContextError(f"cannot open context file {path!r}: {error.strerror}") from None
        try:
            info = os.fstat(self.fd)
            if stat.S_ISDIR(info.st_mode):
                raise ContextError(f"context file {path!r} is a folder; pass its files")
            if not stat.S_ISREG(info.st_mode):
                raise ContextError(f"context file {path!r} is not a regular file")
            self.size = info.st_size
            self._map = mmap.mmap(self.fd, self.size, prot=mmap.PROT_READ) if self.size else None
            if index is None:
                index = self._build_index(info)
            elif (index.size, index.mtime_ns, index.inode) != (
                info.st_size,
                info.st_mtime_ns,
                info.st_ino,
            ):
                raise FileChangedError(f"context file {path!r} changed since it was indexed")
        except BaseException:
            if owned:
                os.close(self.fd)
            raise
        self.index = index
        self._closer = weakref.finalize(self, _close_fd, self.fd) if owned else None
        self.chars = index.chars
        self._byte_starts = index.byte_starts
        self._char_starts = index.char_starts

    # -- index ---------------------------------------------------------------------------------
    def _build_index(self, info: os.stat_result) -> FileIndex:
        byte_starts, char_starts, flags = array("q"), array("q"), bytearray()
        view, size = self._map, self.size
        if view is not None and b"\0" in view[:BINARY_PROBE]:
            raise ContextError(
                f"context file {self.path!r} looks binary (it holds NUL bytes); pass text files"
            )
        position = chars = 0
        while position < size:
            assert view is not None
            end = min(position + BLOCK_BYTES, size)
            while end < size and _continuation(view[end]):
                end -= 1
            block = view[position:end]
            byte_starts.append(position)
            char_starts.append(chars)
            if block.isascii():
                flags.append(1)
                chars += len(block)
            else:
                flags.append(0)
                try:
                    chars += len(block.decode("utf-8"))
                except UnicodeDecodeError as error:
                    raise ContextError(
                        f"context file {self.path!r} is not UTF-8 text (invalid byte at "
                        f"offset {position + error.start}); convert it to UTF-8"
                    ) from None
            position = end
            if len(byte_starts) % WINDOW_BLOCKS == 0:
                self._release(position - WINDOW_BLOCKS * BLOCK_BYTES, position)
        self._release(0, size)
        return FileIndex(
            byte_starts, char_starts, bytes(flags), size, chars, info.st_mtime_ns, info.st_ino
        )

    def check_unchanged(self) -> None:
        """``FileChangedError`` if the file was truncated, rewritten or replaced."""
        try:
            info = os.stat(self.fd)
        except OSError as error:
            raise FileChangedError(
                f"context file {self.path!r} cannot be read any more: {error.strerror}"
            ) from None
        if (info.st_size, info.st_mtime_ns) != (self.index.size, self.index.mtime_ns):
            raise FileChangedError(
                f"context file {self.path!r} changed during the run (size or modification "
                "time); file-backed contexts need files that stay as they are while a run lasts"
            )

    def _release(self, start: int, end: int) -> None:
        """Drop the pages of bytes [start, end) from this process (they stay cached)."""
        if self._map is None or end <= start:
            return
        aligned = max(start, 0) // PAGE * PAGE
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED, aligned, min(end, self.size) - aligned)

    # -- offsets -------------------------------------------------------------------------------
    def _block_of_char(self, char: int) -> int:
        return max(bisect_right(self._char_starts, char) - 1, 0)

    def byte_of(self, char: int) -> int:
        """The byte offset of character ``char`` (0 <= char <= chars)."""
        if char >= self.chars:
            return self.size
        block = self._block_of_char(char)
        start = self._byte_starts[block]
        into = char - self._char_starts[block]
        if self.index.ascii[block]:
            return start + into
        text = self._decode(start, self._block_end(block))
        return start + len(text[:into].encode("utf-8"))

    def _block_end(self, block: int) -> int:
        return self._byte_starts[block + 1] if block + 1 < len(self._byte_starts) else self.size

    def _decode(self, start: int, end: int) -> str:
        if self._map is None or end <= start:
            return ""
        try:
            return self._map[start:end].decode("utf-8")
        except UnicodeDecodeError:
            self.check_unchanged()
            raise
        except (ValueError, OSError):
            self.check_unchanged()
            raise

    # -- reading -------------------------------------------------------------------------------
    def read(self, start: int, end: int) -> str:
        """Characters [start, end) (clamped to the file)."""
        start, end = max(start, 0), min(end, self.chars)
        if end <= start:
            return ""
        self.check_unchanged()
        return self._decode(self.byte_of(start), self.byte_of(end))

    def windows(self, start: int = 0, end: int | None = None) -> Iterator[Window]:
        """Decoded windows that cover chars [start, end), in order.

        Each window owns the matches that start in ``[owned_start, owned_end)``; its text
        begins one block earlier (so look-behinds and ``^`` see the real preceding text)
        and runs ``OVERLAP_BLOCKS`` further, so a match crossing into the next window is
        seen whole if it ends within that overlap (256 KiB): only a match longer than that
        which starts near a window's end can be missed. Pages are dropped from the process
        once a window is done.
        """
        end = self.chars if end is None else min(end, self.chars)
        if start >= end:
            return
        self.check_unchanged()
        blocks = len(self._byte_starts)
        first = self._block_of_char(start)
        last = self._block_of_char(end - 1)
        for block in range(first, last + 1, WINDOW_BLOCKS):
            lead_block = max(block - 1, 0)
            after = min(block + WINDOW_BLOCKS, blocks)
            byte_start = self._byte_starts[lead_block]
            byte_end = self._block_end(min(after + OVERLAP_BLOCKS - 1, blocks - 1))
            text = self._decode(byte_start, byte_end)
            owned_end = self._char_starts[after] if after < blocks else self.chars
            yield Window(self._char_starts[lead_block], self._char_starts[block], owned_end, text)
            self._release(byte_start, byte_end)

    def close(self) -> None:
        """Unmap the file and close it (when this object opened it)."""
        if self._map is not None:
            self._map.close()
            self._map = None
        if self._closer is not None:
            self._closer()


@dataclass(frozen=True, slots=True)
class _Part:
    """A piece of the joined text: a mapped file or a separator string."""

    start: int
    length: int
    file: MappedFile | None
    text: str = ""

    def read(self, start: int, end: int) -> str:
        if self.file is None:
            return self.text[start:end]
        return self.file.read(start, end)


class MappedText:
    """The read-only text of mapped files joined by ``separator``, used like a ``str``."""

    __slots__ = ("_part_starts", "_parts", "files", "length", "separator")

    def __init__(self, files: Sequence[MappedFile], separator: str) -> None:
        self.files = list(files)
        self.separator = separator
        parts: list[_Part] = []
        offset = 0
        for number, file in enumerate(self.files):
            if number:
                parts.append(_Part(offset, len(separator), None, separator))
                offset += len(separator)
            parts.append(_Part(offset, file.chars, file))
            offset += file.chars
        self._parts = parts
        self._part_starts = [part.start for part in parts]
        self.length = offset

    # -- size and slicing ----------------------------------------------------------------------
    def __len__(self) -> int:
        return self.length

    def __getitem__(self, key: int | slice) -> str:
        if isinstance(key, slice):
            start, stop, step = key.indices(self.length)
            if step == 1:
                return self._read(start, stop)
            span = range(start, stop, step)
            if not span:
                return ""
            low, high = min(span[0], span[-1]), max(span[0], span[-1]) + 1
            return self._read(low, high)[::step]
        if isinstance(key, bool) or not isinstance(key, int):
            raise TypeError(f"string indices must be integers, not {type(key).__name__}")
        index = key + self.length if key < 0 else key
        if not 0 <= index < self.length:
            raise IndexError("string index out of range")
        return self._read(index, index + 1)

    def _read(self, start: int, end: int) -> str:
        if end <= start:
            return ""
        pieces = []
        first = max(bisect_right(self._part_starts, start) - 1, 0)
        for part in self._parts[first:]:
            if part.start >= end:
                break
            pieces.append(part.read(max(start - part.start, 0), min(end - part.start, part.length)))
        return "".join(pieces)

    # -- searching -----------------------------------------------------------------------------
    def finditer(
        self, pattern: re.Pattern[str], start: int = 0, end: int | None = None
    ) -> Iterator[tuple[int, int, str]]:
        """``(start, end, matched_text)`` of every match of ``pattern`` in [start, end)."""
        end = self.length if end is None else min(end, self.length)
        for part in self._parts:
            if part.start + part.length <= start:
                continue
            if part.start >= end:
                break
            local_start = max(start - part.start, 0)
            local_end = min(end - part.start, part.length)
            if part.file is None:
                for found in pattern.finditer(part.text, local_start, local_end):
                    yield part.start + found.start(), part.start + found.end(), found.group()
                continue
            yield from _file_matches(part.file, pattern, local_start, local_end, part.start)

    def _first(self, sub: str, start: int | None, end: int | None) -> int:
        begin, stop, _ = slice(start, end).indices(self.length)
        if not isinstance(sub, str):
            raise TypeError(f"must be str, not {type(sub).__name__}")
        if sub == "":
            return begin if begin <= stop else -1
        for found in self.finditer(re.compile(re.escape(sub)), begin, stop):
            return found[0]
        return -1

    def find(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Lowest index of ``sub`` in the text (within [start, end)), or -1."""
        return self._first(sub, start, end)

    def rfind(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Highest index of ``sub`` (a full scan of the range), or -1."""
        begin, stop, _ = slice(start, end).indices(self.length)
        if sub == "":
            return stop if begin <= stop else -1
        last = -1
        position = self._first(sub, begin, stop)
        while position != -1:
            last = position
            position = self._first(sub, position + 1, stop)
        return last

    def index(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        found = self.find(sub, start, end)
        if found < 0:
            raise ValueError("substring not found")
        return found

    def rindex(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        found = self.rfind(sub, start, end)
        if found < 0:
            raise ValueError("substring not found")
        return found

    def count(self, sub: str, start: int | None = None, end: int | None = None) -> int:
        """Non-overlapping occurrences of ``sub`` (like ``str.count``)."""
        begin, stop, _ = slice(start, end).indices(self.length)
        if not isinstance(sub, str):
            raise TypeError(f"must be str, not {type(sub).__name__}")
        if sub == "":
            return max(stop - begin, 0) + 1
        return sum(1 for _ in self.finditer(re.compile(re.escape(sub)), begin, stop))

    def __contains__(self, sub: object) -> bool:
        if not isinstance(sub, str):
            raise TypeError(f"'in <file text>' requires string as left operand, not {type(sub)}")
        return self.find(sub) != -1

    def startswith(self, prefix: str | tuple[str, ...], start: int = 0) -> bool:
        prefixes = (prefix,) if isinstance(prefix, str) else prefix
        return any(self._read(start, start + len(p)) == p for p in prefixes)

    def endswith(self, suffix: str | tuple[str, ...]) -> bool:
        suffixes = (suffix,) if isinstance(suffix, str) else suffix
        return any(self._read(self.length - len(s), self.length) == s for s in suffixes if s) or (
            "" in suffixes
        )

    def __iter__(self) -> Iterator[str]:
        """Character by character, a window at a time (never the whole text at once)."""
        step = WINDOW_BLOCKS * BLOCK_BYTES
        for offset in range(0, self.length, step):
            yield from self._read(offset, offset + step)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MappedText):
            return other is self
        if isinstance(other, str):
            return len(other) == self.length and self._read(0, self.length) == other
        return NotImplemented

    def __hash__(self) -> int:
        return id(self)

    # -- whole-text operations -----------------------------------------------------------------
    def __str__(self) -> str:
        self._refuse("str(P)")

    def __repr__(self) -> str:
        names = ", ".join(os.path.basename(f.path) for f in self.files[:3])
        more = f" and {len(self.files) - 3} more" if len(self.files) > 3 else ""
        return f"<file-backed text: {self.length:,} chars from {names}{more}>"

    def __getattr__(self, name: str) -> Any:
        if hasattr(str, name) and not name.startswith("_"):
            self._refuse(f"P.{name}(...)")
        raise AttributeError(f"file-backed text has no attribute {name!r}")

    def _refuse(self, what: str) -> NoReturn:
        raise ContextError(
            f"{what} would load the whole file-backed text ({self.length:,} chars) into "
            "memory: take a slice first (P[a:b].upper(), print(P[:2000])) or search it "
            "(P.find, P.count, grep(...), ctx.find(..., regex=True), ctx.chunk(...))"
        )

    def close(self) -> None:
        for file in self.files:
            file.close()


def _file_matches(
    file: MappedFile, pattern: re.Pattern[str], start: int, end: int, base: int
) -> Iterator[tuple[int, int, str]]:
    """Matches in chars [start, end) of one file, window by window, each exactly once."""
    resume = start  # the next match may not start before this char
    for window in file.windows(start, end):
        text, origin = window.text, window.origin
        owned_end = min(window.owned_end, end)
        limit = min(end - origin, len(text))
        position = resume - origin
        while position <= limit:
            found = pattern.search(text, position, limit)
            if found is None or origin + found.start() >= owned_end:
                break
            match_start = origin + found.start()
            if found.end() == len(text) and origin + found.end() < end:
                # the text stops where the match does: it may go on past this window
                match_end, matched = _longer_match(file, pattern, match_start, end)
            else:
                match_end, matched = origin + found.end(), found.group()
            yield base + match_start, base + match_end, matched
            resume = match_end if match_end > match_start else match_end + 1
            position = resume - origin
        resume = max(resume, owned_end)


def _longer_match(
    file: MappedFile, pattern: re.Pattern[str], start: int, end: int
) -> tuple[int, str]:
    """The match of ``pattern`` at ``start`` on enough text to see its real end."""
    lead = min(start, 256)
    size = WINDOW_BLOCKS * BLOCK_BYTES * 4
    while True:
        stop = min(start + size, end)
        text = file.read(start - lead, stop)
        found = pattern.match(text, lead)
        if found is None:
            return start, ""
        if found.end() < len(text) or stop >= end:
            return start - lead + found.end(), found.group()
        size *= 4


# -- the sandboxed worker ---------------------------------------------------------------------
def files_to_wire(files: Sequence[MappedFile]) -> list[dict[str, Any]]:
    """What the REPL worker needs besides the files' descriptors: each file's path (for
    messages) and offset index (so the worker does not rescan). No text."""
    return [
        {
            "path": file.path,
            "byte_starts": file.index.byte_starts.tobytes(),
            "char_starts": file.index.char_starts.tobytes(),
            "ascii": file.index.ascii,
            "size": file.index.size,
            "chars": file.index.chars,
            "mtime_ns": file.index.mtime_ns,
            "inode": file.index.inode,
        }
        for file in files
    ]


def files_from_wire(fds: Sequence[int], data: list[dict[str, Any]]) -> list[MappedFile]:
    """The worker's mapped files: the descriptors the host opened, mapped read-only."""
    files = []
    for fd, info in zip(fds, data, strict=True):
        byte_starts, char_starts = array("q"), array("q")
        byte_starts.frombytes(info["byte_starts"])
        char_starts.frombytes(info["char_starts"])
        index = FileIndex(
            byte_starts,
            char_starts,
            info["ascii"],
            info["size"],
            info["chars"],
            info["mtime_ns"],
            info["inode"],
        )
        files.append(MappedFile(info["path"], fd=fd, index=index))
    return files
