"""The retriever contract and the small helpers every retriever shares."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol, TypedDict, runtime_checkable

from rlm_core.errors import ConfigError
from rlm_core.retrieval.filters import Condition, parse_filters

EmbeddingFn = Callable[[list[str]], Sequence[Sequence[float]]]
Filters = Mapping[str, Any]
"""Metadata field -> filter; the shapes are listed in ``rlm_core.retrieval.filters``."""


class SearchHit(TypedDict):
    """One search result: a short preview, not the whole document."""

    doc_id: str
    preview: str
    score: float
    metadata: dict[str, Any]


class Document(TypedDict):
    """A whole document as returned by ``get``."""

    doc_id: str
    content: str
    metadata: dict[str, Any]


@runtime_checkable
class RetrieverProtocol(Protocol):
    """What ``RLM(retriever=...)`` and the ``es_*`` REPL helpers need.

    Hits are mappings shaped like ``SearchHit`` and documents like ``Document``;
    any mapping with those keys will do, so plain dicts satisfy the protocol.

    ``get`` raises a ``KeyError`` subclass (``DocumentNotFoundError``) for an
    unknown ``doc_id``.
    """

    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    def get(self, doc_id: str) -> Mapping[str, Any]: ...


@runtime_checkable
class AsyncRetrieverProtocol(Protocol):
    """The async twin of ``RetrieverProtocol`` (every method is a coroutine)."""

    async def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    async def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    async def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> Sequence[Mapping[str, Any]]: ...

    async def get(self, doc_id: str) -> Mapping[str, Any]: ...


def check_query(query: Any, top_k: Any, filters: Any) -> tuple[str, int, tuple[Condition, ...]]:
    """Validate the common search arguments; returns them normalised (filters parsed)."""
    if not isinstance(query, str) or not query.strip():
        raise ConfigError(f"query must be a non-empty str, got {query!r:.80}")
    if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
        raise ConfigError(f"top_k must be an int >= 1, got {top_k!r}")
    return query, top_k, parse_filters(filters)


def check_positive(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ConfigError(f"{name} must be an int >= 1, got {value!r}")
    return value


def make_preview(content: str, length: int) -> str:
    """The first ``length`` characters of ``content``, cut at a word when possible."""
    text = " ".join(content.split())
    if len(text) <= length:
        return text
    cut = text[:length]
    space = cut.rfind(" ")
    return (cut[:space] if space > length // 2 else cut) + " ..."


def check_embeddings(vectors: Any, expected: int) -> list[list[float]]:
    """Validate what an embedding function returned."""
    from rlm_core.retrieval.errors import EmbeddingError

    try:
        rows = [[float(x) for x in row] for row in vectors]
    except (TypeError, ValueError) as error:
        raise EmbeddingError(
            f"embedding_fn must return a list of float vectors, one per text ({error})"
        ) from None
    if len(rows) != expected:
        raise EmbeddingError(
            f"embedding_fn returned {len(rows)} vectors for {expected} texts; it must return "
            "one vector per input text, in order"
        )
    if rows and (not rows[0] or any(len(row) != len(rows[0]) for row in rows)):
        raise EmbeddingError("embedding_fn returned empty vectors or vectors of different lengths")
    return rows


def normalize_documents(documents: Any) -> list[Document]:
    """Accept a list of str (ids "0", "1", ...) or of {doc_id, content, metadata} dicts."""
    if isinstance(documents, str | bytes) or not isinstance(documents, Sequence):
        raise ConfigError(
            "documents must be a list of str or of {'doc_id', 'content', 'metadata'} dicts"
        )
    docs: list[Document] = []
    seen: set[str] = set()
    for index, item in enumerate(documents):
        if isinstance(item, str):
            doc: Document = {"doc_id": str(index), "content": item, "metadata": {}}
        elif isinstance(item, Mapping):
            if "content" not in item or not isinstance(item["content"], str):
                raise ConfigError(f"document {index} needs a str 'content' field")
            metadata = item.get("metadata") or {}
            if not isinstance(metadata, Mapping):
                raise ConfigError(f"document {index}: 'metadata' must be a dict")
            doc_id = str(item.get("doc_id", index))
            doc = {"doc_id": doc_id, "content": item["content"], "metadata": dict(metadata)}
        else:
            raise ConfigError(
                f"document {index} is a {type(item).__name__}; use str or a dict with "
                "'doc_id', 'content' and optional 'metadata'"
            )
        if doc["doc_id"] in seen:
            raise ConfigError(f"duplicate doc_id {doc['doc_id']!r}: doc_ids must be unique")
        seen.add(doc["doc_id"])
        docs.append(doc)
    return docs
