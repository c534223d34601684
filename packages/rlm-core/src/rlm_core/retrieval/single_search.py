"""``SingleSearchRetriever``: the core's retriever protocol over a retriever with one search.

Framework retrievers (LangChain, LlamaIndex, ...) have a single kind of search and
no "get by id". This base class does everything else once: argument checks,
metadata filters (``matches_filters``, applied before the ``top_k`` cut, with
over-fetching), previews, and a bounded cache of the documents searches returned
so ``get(doc_id)`` can serve them. A subclass only says how to ``fetch``.
"""

from __future__ import annotations

import threading
from abc import ABC, abstractmethod
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rlm_core.retrieval.base import (
    Document,
    Filters,
    SearchHit,
    check_positive,
    check_query,
)
from rlm_core.retrieval.errors import DocumentNotFoundError
from rlm_core.retrieval.filters import matches_filters

S = TypeVar("S")

DEFAULT_PREVIEW_CHARS = 300
DEFAULT_FILTER_OVERFETCH = 4
DEFAULT_CACHE_SIZE = 10_000


@dataclass(frozen=True, slots=True)
class FoundDocument(Generic[S]):
    """One result of the wrapped retriever in the core's terms; ``source`` is the
    framework's own object (a LangChain ``Document``, a LlamaIndex ``NodeWithScore``)."""

    doc_id: str
    content: str
    metadata: Mapping[str, Any]
    score: float
    source: S


class SingleSearchRetriever(ABC, Generic[S]):
    """Implements ``RetrieverProtocol`` from one ``fetch(query, limit)``.

    ``search``, ``vector_search`` and ``hybrid_search`` all call ``fetch`` (the
    wrapped retriever decides how it searches). With ``filters``, ``fetch`` is asked
    for ``top_k * filter_overfetch`` results, the filters are applied, then the list
    is cut to ``top_k``. The last ``cache_size`` documents returned stay readable
    with ``get``; ``lookup`` may find others (e.g. in a document store).
    """

    def __init__(
        self,
        *,
        preview_chars: int = DEFAULT_PREVIEW_CHARS,
        filter_overfetch: int = DEFAULT_FILTER_OVERFETCH,
        cache_size: int = DEFAULT_CACHE_SIZE,
    ) -> None:
        self.preview_chars = check_positive("preview_chars", preview_chars)
        self.filter_overfetch = check_positive("filter_overfetch", filter_overfetch)
        self.cache_size = check_positive("cache_size", cache_size)
        self._cache: OrderedDict[str, FoundDocument[S]] = OrderedDict()
        self._lock = threading.Lock()

    # -- what a subclass provides ------------------------------------------------------------
    @abstractmethod
    def fetch(self, query: str, limit: int) -> Sequence[FoundDocument[S]]:
        """Up to about ``limit`` results of the wrapped retriever for ``query``, best first."""

    def lookup(self, doc_id: str) -> FoundDocument[S] | None:
        """A document no search returned (or one dropped from the cache); ``None`` if unknown."""
        return None

    def on_hits(self, hits: Sequence[FoundDocument[S]]) -> None:
        """Called with the hits each search returns (after filtering and the cut)."""

    def on_get(self, document: FoundDocument[S]) -> None:
        """Called with each document ``get`` returns."""

    # -- RetrieverProtocol -------------------------------------------------------------------
    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """``[{doc_id, preview, score, metadata}]``: the best ``top_k`` that pass ``filters``."""
        query, top_k, wanted = check_query(query, top_k, filters)
        limit = top_k * self.filter_overfetch if wanted else top_k
        found = [f for f in self.fetch(query, limit) if matches_filters(f.metadata, wanted)]
        hits = found[:top_k]
        self._remember(hits)
        self.on_hits(hits)
        return [self._hit(found) for found in hits]

    def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    def get(self, doc_id: str) -> Document:
        """``{doc_id, content, metadata}``; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        found = self.document(doc_id)
        self.on_get(found)
        return {"doc_id": found.doc_id, "content": found.content, "metadata": dict(found.metadata)}

    def document(self, doc_id: str) -> FoundDocument[S]:
        """The cached (or ``lookup``-found) document ``doc_id``; ``DocumentNotFoundError``
        when neither knows it. Unlike ``get``, this records nothing."""
        doc_id = str(doc_id)
        with self._lock:
            found = self._cache.get(doc_id)
            known = len(self._cache)
        if found is None:
            found = self.lookup(doc_id)
        if found is None:
            raise DocumentNotFoundError(
                doc_id, f"the {known} document(s) earlier searches returned (call es_search first)"
            )
        return found

    # -- the document cache ------------------------------------------------------------------
    @property
    def cached(self) -> list[FoundDocument[S]]:
        """The documents searches returned that are still cached, oldest first."""
        with self._lock:
            return list(self._cache.values())

    def share_cache_with(self, other: SingleSearchRetriever[S]) -> None:
        """Use ``other``'s document cache (ids found by either stay readable by both)."""
        self._cache, self._lock = other._cache, other._lock

    def _remember(self, hits: Sequence[FoundDocument[S]]) -> None:
        with self._lock:
            for found in hits:
                self._cache.setdefault(found.doc_id, found)
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)

    def _hit(self, found: FoundDocument[S]) -> SearchHit:
        return {
            "doc_id": found.doc_id,
            "preview": found.content[: self.preview_chars],
            "score": found.score,
            "metadata": dict(found.metadata),
        }
