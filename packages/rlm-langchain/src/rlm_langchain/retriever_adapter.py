"""``LangChainRetrieverAdapter``: any LangChain retriever as the RLM's document index."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Mapping
from typing import Any

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig

_ID_KEYS = ("doc_id", "id")
_SCORE_KEYS = ("score", "relevance_score", "_score")


def doc_id_of(document: Document) -> str:
    """A document's id: ``Document.id``, else metadata ``doc_id``/``id``, else a content hash."""
    if document.id:
        return str(document.id)
    for key in _ID_KEYS:
        value = document.metadata.get(key)
        if value not in (None, ""):
            return str(value)
    meta = json.dumps(document.metadata, sort_keys=True, default=str)
    digest = hashlib.sha1(f"{document.page_content}\x00{meta}".encode(), usedforsecurity=False)
    return digest.hexdigest()[:16]


def _score(document: Document, rank: int) -> float:
    for key in _SCORE_KEYS:
        value = document.metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 1.0 / (rank + 1)


def _matches(metadata: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    if not filters:
        return True
    for key, wanted in filters.items():
        value = metadata.get(key)
        if isinstance(wanted, list | tuple | set):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


class LangChainRetrieverAdapter:
    """Serves the REPL's ``es_search`` / ``es_get`` from a LangChain ``BaseRetriever``.

    Every document a search returns is kept, so ``get(doc_id)`` can return it in
    full and ``documents`` lists what the run consulted. A LangChain retriever has
    one kind of search, so ``vector_search`` and ``hybrid_search`` use it too.
    ``filters`` are matched against document metadata (equality, or membership for
    a list). ``top_k`` is passed as ``k`` to retrievers that take extra arguments.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        *,
        config: RunnableConfig | None = None,
        preview_chars: int = 300,
    ) -> None:
        if not isinstance(retriever, BaseRetriever):
            raise TypeError(
                f"retriever must be a LangChain BaseRetriever, got {type(retriever).__name__}; "
                "wrap a vector store with vector_store.as_retriever()"
            )
        if (
            isinstance(preview_chars, bool)
            or not isinstance(preview_chars, int)
            or preview_chars < 1
        ):
            raise ValueError(f"preview_chars must be a positive int, got {preview_chars!r}")
        self.retriever = retriever
        self.config = config
        self.preview_chars = preview_chars
        self._docs: dict[str, Document] = {}
        self._lock = threading.Lock()

    def with_config(self, config: RunnableConfig | None) -> LangChainRetrieverAdapter:
        """A fresh adapter (empty document store) whose searches run under ``config``."""
        return LangChainRetrieverAdapter(
            self.retriever, config=config, preview_chars=self.preview_chars
        )

    @property
    def documents(self) -> list[Document]:
        """Every document returned by a search so far, in the order first seen."""
        with self._lock:
            return list(self._docs.values())

    def search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """``[{doc_id, preview, score, metadata}]`` for the best ``top_k`` documents."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search needs a non-empty query string")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be a positive int, got {top_k!r}")
        kwargs: dict[str, Any] = {"k": top_k} if self.retriever._expects_other_args else {}
        found = self.retriever.invoke(query, config=self.config, **kwargs)
        results: list[dict[str, Any]] = []
        for rank, document in enumerate(found):
            if not _matches(document.metadata, filters):
                continue
            doc_id = doc_id_of(document)
            with self._lock:
                self._docs.setdefault(doc_id, document)
            results.append(
                {
                    "doc_id": doc_id,
                    "preview": document.page_content[: self.preview_chars],
                    "score": _score(document, rank),
                    "metadata": dict(document.metadata),
                }
            )
            if len(results) >= top_k:
                break
        return results

    def vector_search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    def get(self, doc_id: str) -> dict[str, Any]:
        """``{doc_id, content, metadata}`` of a document an earlier search returned."""
        with self._lock:
            document = self._docs.get(str(doc_id))
            known = len(self._docs)
        if document is None:
            raise KeyError(
                f"unknown doc_id {doc_id!r}: only documents returned by a search can be read "
                f"({known} known so far); call es_search first and use its doc_id values"
            )
        return {
            "doc_id": str(doc_id),
            "content": document.page_content,
            "metadata": dict(document.metadata),
        }

    def __repr__(self) -> str:
        return f"LangChainRetrieverAdapter({type(self.retriever).__name__})"
