"""The long context: held once as a single string plus document boundaries, or left in
files and memory-mapped (``Context.from_file`` / ``from_files``, see ``FileContext``)."""

from __future__ import annotations

import glob
import os
import re
from array import array
from bisect import bisect_right
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any, Literal, Self, TypeVar, overload

from rlm_core._mapped_text import FileChangedError as FileChangedError
from rlm_core._mapped_text import MappedFile, MappedText
from rlm_core.errors import ContextError

DEFAULT_SEPARATOR = "\n\n---\n\n"
DEFAULT_PAGE_SIZE = 4000
SNIPPET_RADIUS = 80
# ``metadata()`` lists every document's length up to this many documents (it goes into the
# first prompt); ``document_lengths()`` always has them all.
MAX_LISTED_DOCUMENTS = 50

ContextType = Literal["string", "document_list"]
_Piece = TypeVar("_Piece", bound=tuple[Any, ...])


class Match(tuple[int, int, str]):
    """One hit of ``Context.find``.

    It unpacks as ``(start, end, text)`` like a plain tuple
    (``for start, end, text in ctx.find(...)``) and also carries ``doc_index``
    (the document the hit falls in) and ``snippet`` (the text around it).
    ``_fields`` lets sandboxes that copy values (monty) rebuild it as a named
    tuple of the three fields.
    """

    _fields = ("start", "end", "text")
    doc_index: int
    snippet: str

    def __new__(
        cls, start: int, end: int, text: str, doc_index: int = 0, snippet: str = ""
    ) -> Self:
        match = super().__new__(cls, (start, end, text))
        match.doc_index = doc_index
        match.snippet = snippet
        return match

    @property
    def start(self) -> int:
        return self[0]

    @property
    def end(self) -> int:
        return self[1]

    @property
    def text(self) -> str:
        return self[2]

    def __reduce__(self) -> tuple[type[Match], tuple[int, int, str, int, str]]:
        return (type(self), (self[0], self[1], self[2], self.doc_index, self.snippet))

    def __repr__(self) -> str:
        return (
            f"Match(start={self[0]}, end={self[1]}, text={self[2]!r}, "
            f"doc_index={self.doc_index}, snippet={self.snippet!r})"
        )


class Chunk(tuple[int, int, str]):
    """One piece of ``Context.chunk``: unpacks as ``(start, end, text)``.

    ``str(chunk)`` is its text, so a chunk can be handed to anything that wants
    a string (``ask_chunks``, f-strings); ``chunk.text`` says so explicitly.
    """

    __slots__ = ()
    _fields = ("start", "end", "text")

    def __new__(cls, start: int, end: int, text: str) -> Self:
        return super().__new__(cls, (start, end, text))

    @property
    def start(self) -> int:
        return self[0]

    @property
    def end(self) -> int:
        return self[1]

    @property
    def text(self) -> str:
        return self[2]

    def __str__(self) -> str:
        return self[2]

    def __reduce__(self) -> tuple[type[Chunk], tuple[int, int, str]]:
        return (type(self), (self[0], self[1], self[2]))


class DocumentChunk(tuple[int, int, list[str]]):
    """One group of ``Context.chunk_documents``: unpacks as
    ``(first_document, end_document, documents)`` (``end_document`` exclusive).

    ``chunk.text`` and ``str(chunk)`` are the group's documents joined by the
    context's separator.
    """

    _fields = ("start", "end", "documents")
    separator: str

    def __new__(cls, first: int, end: int, documents: list[str], separator: str = "") -> Self:
        chunk = super().__new__(cls, (first, end, documents))
        chunk.separator = separator
        return chunk

    @property
    def start(self) -> int:
        return self[0]

    @property
    def end(self) -> int:
        return self[1]

    @property
    def documents(self) -> list[str]:
        return self[2]

    @property
    def text(self) -> str:
        return self.separator.join(self[2])

    def __str__(self) -> str:
        return self.text

    def __reduce__(self) -> tuple[type[DocumentChunk], tuple[int, int, list[str], str]]:
        return (type(self), (self[0], self[1], self[2], self.separator))


def chunk_text(value: object) -> str:
    """The text of a chunk as the helpers take it.

    A ``(start, end, text)`` or ``(first, end, documents)`` tuple — also after
    a sandbox copied it into a plain tuple — gives its text; anything else is
    ``str(value)``.
    """
    if isinstance(value, str):
        return value
    if isinstance(value, tuple) and len(value) == 3:
        first, end, body = value
        if isinstance(first, int) and isinstance(end, int):
            if isinstance(body, str):
                return body
            if isinstance(body, list) and all(isinstance(item, str) for item in body):
                separator = getattr(value, "separator", DEFAULT_SEPARATOR)
                return str(separator).join(body)
    return str(value)


class Context:
    """Text (or many documents) that the model inspects from the REPL.

    Documents are joined once with ``separator``; only their start offsets are
    kept beside the joined text, so the content is never stored twice.
    """

    __slots__ = ("_lengths", "_metadata", "_starts", "context_type", "separator", "text")

    def __init__(
        self,
        text: str,
        starts: Sequence[int] = (0,),
        lengths: Sequence[int] | None = None,
        separator: str = DEFAULT_SEPARATOR,
        context_type: ContextType | None = None,
    ) -> None:
        if not isinstance(text, str):
            raise ContextError(
                f"context text must be str, got {type(text).__name__}; "
                "use Context.from_text(str) or Context.from_documents(list[str])"
            )
        self.text = text
        self.separator = separator
        self._starts = array("q", starts)
        self._lengths = array("q", lengths if lengths is not None else [len(text)])
        self.context_type: ContextType = context_type or _type_for(len(self._starts))
        self._metadata: dict[str, Any] | None = None

    # -- construction -------------------------------------------------------------------------
    @classmethod
    def from_text(cls, text: str) -> Context:
        """A context made of one document."""
        return cls(text)

    @classmethod
    def from_documents(
        cls, documents: Iterable[str], separator: str = DEFAULT_SEPARATOR
    ) -> Context:
        """A context made of several documents joined by ``separator``."""
        if isinstance(documents, str):
            raise ContextError(
                "from_documents expects a list of strings, got one str; "
                "use Context.from_text for a single text"
            )
        docs = list(documents)
        starts = array("q")
        lengths = array("q")
        offset = 0
        for index, doc in enumerate(docs):
            if not isinstance(doc, str):
                raise ContextError(
                    f"document {index} is {type(doc).__name__}, not str; "
                    "convert documents to text before building a Context"
                )
            starts.append(offset)
            lengths.append(len(doc))
            offset += len(doc) + len(separator)
        text = separator.join(docs)
        del docs
        if not starts:
            starts.append(0)
            lengths.append(0)
        return cls(text, starts, lengths, separator, "document_list")

    @classmethod
    def from_file(cls, path: str | os.PathLike[str]) -> FileContext:
        """One UTF-8 file, memory-mapped read-only and never loaded whole."""
        return FileContext([MappedFile(_path_text(path))], context_type="string")

    @classmethod
    def from_files(
        cls,
        paths: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        separator: str = DEFAULT_SEPARATOR,
    ) -> FileContext:
        """One document per file, memory-mapped read-only: a list of paths, or a glob such
        as ``"logs/**/*.log"`` (sorted; ``**`` recurses)."""
        return FileContext(_open_files(_file_names(paths)), separator, "document_list")

    @classmethod
    def coerce(cls, value: Any) -> Context:
        """Accept a Context, a str or a list of str; anything else is a ContextError."""
        if isinstance(value, Context):
            return value
        if isinstance(value, str):
            return cls.from_text(value)
        if isinstance(value, list | tuple):
            return cls.from_documents(value)
        raise ContextError(
            f"context must be a str, a list of str or a Context, got {type(value).__name__}"
        )

    # -- size and documents -------------------------------------------------------------------
    def len_chars(self) -> int:
        """Total number of characters."""
        return len(self.text)

    def __len__(self) -> int:
        return len(self.text)

    def num_documents(self) -> int:
        """Number of documents."""
        return len(self._starts)

    def document_lengths(self) -> list[int]:
        """Length of every document, in characters."""
        return list(self._lengths)

    def get_document(self, index: int) -> str:
        """Document ``index`` (negative indexes count from the end)."""
        count = len(self._starts)
        if not -count <= index < count:
            raise IndexError(f"document index {index} out of range: there are {count} documents")
        start = self._starts[index]
        return self.text[start : start + self._lengths[index]]

    def document_at(self, offset: int) -> int:
        """Index of the document containing character ``offset``."""
        return max(bisect_right(self._starts, offset) - 1, 0)

    # -- reading ------------------------------------------------------------------------------
    def slice(self, start: int, end: int | None = None) -> str:
        """``text[start:end]`` with out-of-range bounds clamped."""
        return self.text[max(start, 0) : end]

    def page(self, n: int, page_size: int = DEFAULT_PAGE_SIZE) -> str:
        """Page ``n`` (from 0) when the text is cut into pages of ``page_size`` chars."""
        if page_size <= 0:
            raise ValueError("page_size must be positive")
        pages = self.num_pages(page_size)
        if not 0 <= n < pages:
            raise IndexError(f"page {n} out of range: there are {pages} pages of {page_size} chars")
        return self.text[n * page_size : (n + 1) * page_size]

    def num_pages(self, page_size: int = DEFAULT_PAGE_SIZE) -> int:
        """How many pages of ``page_size`` chars the text spans."""
        return max(1, -(-len(self.text) // page_size))

    def find(
        self,
        pattern: str,
        regex: bool = False,
        max_matches: int = 100,
        case_sensitive: bool = True,
    ) -> list[Match]:
        """Occurrences of ``pattern`` (plain text unless ``regex``), at most ``max_matches``."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("find needs a non-empty string pattern")
        if not regex and case_sensitive:
            return self._find_plain(pattern, max_matches)
        flags = 0 if case_sensitive else re.IGNORECASE
        compiled = re.compile(pattern if regex else re.escape(pattern), flags)
        matches: list[Match] = []
        for found in compiled.finditer(self.text):
            if len(matches) >= max_matches:
                break
            matches.append(self._match(found.start(), found.end()))
        return matches

    def _find_plain(self, pattern: str, max_matches: int) -> list[Match]:
        matches: list[Match] = []
        text = self.text
        position = text.find(pattern)
        while position != -1 and len(matches) < max_matches:
            matches.append(self._match(position, position + len(pattern)))
            position = text.find(pattern, position + 1)
        return matches

    def _match(self, start: int, end: int) -> Match:
        text = self.text
        snippet = text[max(start - SNIPPET_RADIUS, 0) : end + SNIPPET_RADIUS]
        return Match(start, end, text[start:end], self.document_at(start), snippet)

    def chunk(self, size: int, overlap: int = 0) -> list[Chunk]:
        """Consecutive pieces of ``size`` chars, each overlapping the previous by ``overlap``.

        Each piece unpacks as ``(start, end, text)``; ``str(piece)`` is its text.
        """
        if size <= 0:
            raise ValueError(f"chunk size must be positive, got {size}")
        if not 0 <= overlap < size:
            raise ValueError(f"overlap must be >= 0 and < size ({size}), got {overlap}")
        stride = size - overlap
        text = self.text
        length = len(text)
        last = max(length - overlap, 1)
        return [Chunk(i, min(i + size, length), text[i : i + size]) for i in range(0, last, stride)]

    def chunk_documents(self, docs_per_chunk: int = 10) -> list[DocumentChunk]:
        """Groups of ``docs_per_chunk`` whole documents.

        Each group unpacks as ``(first_document, end_document, documents)``;
        ``str(group)`` is its documents joined by the separator.
        """
        if docs_per_chunk <= 0:
            raise ValueError(f"docs_per_chunk must be positive, got {docs_per_chunk}")
        count = len(self._starts)
        groups = []
        for first in range(0, count, docs_per_chunk):
            end = min(first + docs_per_chunk, count)
            documents = [self.get_document(index) for index in range(first, end)]
            groups.append(DocumentChunk(first, end, documents, self.separator))
        return groups

    def metadata(self) -> dict[str, Any]:
        """Sizes and shape of the context (never its content), for the first prompt.

        ``total_length``, ``context_type``, ``num_documents`` and (for 2 to
        ``MAX_LISTED_DOCUMENTS`` documents) ``document_lengths``, plus
        ``total_chars`` and the min/max/mean document size.
        """
        if self._metadata is None:
            lengths = self._lengths
            count = len(lengths)
            self._metadata = {
                "context_type": self.context_type,
                "total_length": len(self.text),
                "total_chars": len(self.text),
                "num_documents": count,
                "min_document_chars": min(lengths) if count else 0,
                "max_document_chars": max(lengths) if count else 0,
                "mean_document_chars": (sum(lengths) // count) if count else 0,
            }
            if 1 < count <= MAX_LISTED_DOCUMENTS:
                self._metadata["document_lengths"] = list(lengths)
        return {
            key: list(value) if isinstance(value, list) else value
            for key, value in self._metadata.items()
        }

    def __repr__(self) -> str:
        return f"Context(chars={len(self.text)}, documents={len(self._starts)})"


# -- file-backed contexts ----------------------------------------------------------------------
class FileContext(Context):
    """A ``Context`` over memory-mapped UTF-8 files (one document per file)."""

    __slots__ = ()

    def __init__(
        self,
        files: Sequence[MappedFile],
        separator: str = DEFAULT_SEPARATOR,
        context_type: ContextType | None = None,
    ) -> None:
        if not files:
            raise ContextError("a file-backed context needs at least one file")
        text = MappedText(files, separator)
        starts, lengths = array("q"), array("q")
        offset = 0
        for file in files:
            starts.append(offset)
            lengths.append(file.chars)
            offset += file.chars + len(separator)
        self.text = text  # type: ignore[assignment]  # str-like, see MappedText
        self.separator = separator
        self._starts = starts
        self._lengths = lengths
        self.context_type = context_type or _type_for(len(files))
        self._metadata = None

    @property
    def mapped(self) -> MappedText:
        """The text, typed as what it is."""
        text: Any = self.text
        return text  # type: ignore[no-any-return]

    @property
    def files(self) -> list[MappedFile]:
        return self.mapped.files

    # -- searching ------------------------------------------------------------------------------
    def find(
        self,
        pattern: str,
        regex: bool = False,
        max_matches: int = 100,
        case_sensitive: bool = True,
    ) -> list[Match]:
        """As ``Context.find``; the text is searched a window at a time."""
        if not isinstance(pattern, str) or not pattern:
            raise ValueError("find needs a non-empty string pattern")
        flags = 0 if case_sensitive else re.IGNORECASE
        if not regex and case_sensitive:  # overlapping hits, like str.find in a loop
            compiled = re.compile(f"(?={re.escape(pattern)})")
            width = len(pattern)
        else:
            compiled = re.compile(pattern if regex else re.escape(pattern), flags)
            width = -1
        matches: list[Match] = []
        for start, end, _ in self.mapped.finditer(compiled):
            if len(matches) >= max_matches:
                break
            matches.append(self._match(start, start + width if width >= 0 else end))
        return matches

    # -- pieces ---------------------------------------------------------------------------------
    def chunk(self, size: int, overlap: int = 0) -> Sequence[Chunk]:  # type: ignore[override]
        """Lazy ``size``-char ``Chunk`` pieces overlapping by ``overlap``: read one at a time."""
        if size <= 0:
            raise ValueError(f"chunk size must be positive, got {size}")
        if not 0 <= overlap < size:
            raise ValueError(f"overlap must be >= 0 and < size ({size}), got {overlap}")
        stride = size - overlap
        length = len(self.text)
        starts = range(0, max(length - overlap, 1), stride)
        spans = [(start, min(start + size, length)) for start in starts]
        text = self.mapped
        return LazyPieces(len(spans), lambda i: Chunk(*spans[i], text[spans[i][0] : spans[i][1]]))

    def chunk_documents(  # type: ignore[override]
        self, docs_per_chunk: int = 10
    ) -> Sequence[DocumentChunk]:
        """Lazy ``DocumentChunk`` groups of ``docs_per_chunk`` whole documents."""
        if docs_per_chunk <= 0:
            raise ValueError(f"docs_per_chunk must be positive, got {docs_per_chunk}")
        count = len(self._starts)
        firsts = range(0, count, docs_per_chunk)

        def group(index: int) -> DocumentChunk:
            first = firsts[index]
            end = min(first + docs_per_chunk, count)
            documents = [self.get_document(doc) for doc in range(first, end)]
            return DocumentChunk(first, end, documents, self.separator)

        return LazyPieces(len(firsts), group)

    def metadata(self) -> dict[str, Any]:
        data = super().metadata()
        data["file_backed"] = (
            f"{len(self.files)} memory-mapped file(s): slice and search P; whole-text "
            "str operations on P (str(P), P.split()) are refused"
        )
        return data

    def close(self) -> None:
        """Unmap the files (the context cannot be read afterwards)."""
        self.mapped.close()

    def __repr__(self) -> str:
        return (
            f"FileContext(chars={len(self.text)}, documents={len(self._starts)}, "
            f"files={[file.path for file in self.files[:3]]})"
        )


class LazyPieces(Sequence[_Piece]):
    """A sequence of pieces of the mapped text, each read only when asked for."""

    def __init__(self, count: int, read: Callable[[int], _Piece]) -> None:
        self._count = count
        self._read = read

    def __len__(self) -> int:
        return self._count

    @overload
    def __getitem__(self, index: int) -> _Piece: ...

    @overload
    def __getitem__(self, index: slice) -> list[_Piece]: ...

    def __getitem__(self, index: int | slice) -> _Piece | list[_Piece]:
        if isinstance(index, slice):
            return [self._read(i) for i in range(*index.indices(self._count))]
        if not -self._count <= index < self._count:
            raise IndexError(f"piece {index} out of range: there are {self._count}")
        return self._read(index % self._count)

    def __iter__(self) -> Iterator[_Piece]:
        for index in range(self._count):
            yield self._read(index)

    def __repr__(self) -> str:
        return f"<{self._count} pieces of the file-backed text, read on access>"


def _type_for(documents: int) -> ContextType:
    return "document_list" if documents > 1 else "string"


def _path_text(path: Any) -> str:
    if not isinstance(path, str | os.PathLike):
        raise ContextError(f"a context file path must be a str or Path, got {type(path).__name__}")
    return str(Path(path).expanduser())


def _file_names(paths: Any) -> list[str]:
    if isinstance(paths, str | os.PathLike):
        spec = os.fspath(paths)
        if not any(char in spec for char in "*?["):
            return [_path_text(spec)]
        found = sorted(m for m in glob.glob(spec, recursive=True) if os.path.isfile(m))
        if not found:
            raise ContextError(f"the pattern {spec!r} matches no files")
        return found
    names = [_path_text(path) for path in paths]
    if not names:
        raise ContextError("from_files needs at least one path")
    return names


def _open_files(names: list[str]) -> list[MappedFile]:
    files: list[MappedFile] = []
    try:
        for name in names:
            files.append(MappedFile(name))
    except BaseException:
        for file in files:
            file.close()
        raise
    return files
