"""Any LlamaIndex ``BaseRetriever`` as rlm-core's document index (es_search / es_get)."""

from __future__ import annotations

import copy
import threading
import warnings
from collections.abc import Iterable, Sequence

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore
from llama_index.core.storage.docstore.types import BaseDocumentStore

from rlm_core import ConfigError
from rlm_core.retrieval import Filters, FoundDocument, SearchHit, SingleSearchRetriever

DEFAULT_PREVIEW_CHARS = 300


class LlamaIndexRetrieverAdapter(SingleSearchRetriever[NodeWithScore]):
    """Serves the core's retriever protocol from a LlamaIndex retriever.

    ``search`` / ``vector_search`` / ``hybrid_search`` all call the wrapped
    retriever (it decides how it searches). Each search asks it for the number of
    hits the REPL wants (``top_k``, ``default_top_k`` when the model gives none) by
    setting ``similarity_top_k`` on a copy of it, and on copies of the retrievers a
    composite one (``QueryFusionRetriever``, ``RouterRetriever``) combines, so their own
    default of 2 does not cap it (``filter_overfetch`` times more when ``filters`` are
    given; filters follow ``rlm_core.retrieval.matches_filters`` on node metadata and
    apply before the ``top_k`` cut). A retriever without ``similarity_top_k`` returns
    what it returns, and a warning says so once.

    ``get(doc_id)`` returns a node seen in a search (the last ``cache_size`` are kept,
    shared by every run of the adapter), or one from ``docstore`` / ``nodes``.
    Each run (``fresh()``) records what it searched and read (``hits``, ``fetched``)
    so the query engine can report source nodes.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        *,
        docstore: BaseDocumentStore | None = None,
        nodes: Iterable[BaseNode] | None = None,
        preview_chars: int = DEFAULT_PREVIEW_CHARS,
        filter_overfetch: int = 4,
        cache_size: int = 10_000,
        default_top_k: int = 10,
    ) -> None:
        if not isinstance(retriever, BaseRetriever):
            raise ConfigError(
                f"retriever must be a LlamaIndex BaseRetriever (e.g. index.as_retriever()), "
                f"got {type(retriever).__name__}"
            )
        if docstore is not None and not isinstance(docstore, BaseDocumentStore):
            raise ConfigError(
                f"docstore must be a LlamaIndex BaseDocumentStore, got {type(docstore).__name__}"
            )
        super().__init__(
            preview_chars=preview_chars, filter_overfetch=filter_overfetch, cache_size=cache_size
        )
        self.retriever = retriever
        self.docstore = docstore
        if (
            isinstance(default_top_k, bool)
            or not isinstance(default_top_k, int)
            or default_top_k < 1
        ):
            raise ConfigError(
                f"default_top_k (hits per search) must be an int >= 1, got {default_top_k!r}"
            )
        self.default_top_k = default_top_k
        self._given: dict[str, BaseNode] = {}
        for node in nodes or ():
            if not isinstance(node, BaseNode):
                raise ConfigError(f"nodes must be LlamaIndex nodes, got {type(node).__name__}")
            self._given[node.node_id] = node
        self.hits: dict[str, NodeWithScore] = {}
        self.fetched: list[str] = []
        self._records = threading.Lock()
        self._warned = False

    def fresh(self) -> LlamaIndexRetrieverAdapter:
        """A new adapter over the same retriever and stores, with empty records (one per run);
        nodes seen in any run stay readable by id (within the bounded cache)."""
        clone = LlamaIndexRetrieverAdapter(
            self.retriever,
            docstore=self.docstore,
            preview_chars=self.preview_chars,
            filter_overfetch=self.filter_overfetch,
            cache_size=self.cache_size,
            default_top_k=self.default_top_k,
        )
        clone._given = self._given
        clone._warned = self._warned
        clone.share_cache_with(self)
        return clone

    def clear_records(self) -> None:
        """Forget what was searched and read (a conversation's adapter, before each turn)."""
        with self._records:
            self.hits.clear()
            self.fetched.clear()

    # -- searches: top_k=None is the model not saying how many --------------------------------
    def search(
        self, query: str, top_k: int | None = None, filters: Filters | None = None
    ) -> list[SearchHit]:
        """The best ``top_k`` (default ``default_top_k``) hits that pass ``filters``."""
        wanted = self.default_top_k if top_k is None else top_k
        return super().search(query, top_k=wanted, filters=filters)

    def vector_search(
        self, query: str, top_k: int | None = None, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    def hybrid_search(
        self, query: str, top_k: int | None = None, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Same as ``search``: the wrapped retriever decides how it searches."""
        return self.search(query, top_k=top_k, filters=filters)

    # -- SingleSearchRetriever ---------------------------------------------------------------
    def fetch(self, query: str, limit: int) -> list[FoundDocument[NodeWithScore]]:
        return [_found(hit) for hit in self._sized(limit).retrieve(query)]

    def lookup(self, doc_id: str) -> FoundDocument[NodeWithScore] | None:
        node = self._given.get(doc_id)
        if node is None and self.docstore is not None:
            node = self.docstore.get_node(doc_id, raise_error=False)
        return None if node is None else _found(NodeWithScore(node=node))

    def on_hits(self, hits: Sequence[FoundDocument[NodeWithScore]]) -> None:
        with self._records:
            for found in hits:
                seen = self.hits.get(found.doc_id)
                if seen is None or (found.source.score or 0.0) > (seen.score or 0.0):
                    self.hits[found.doc_id] = found.source

    def on_get(self, document: FoundDocument[NodeWithScore]) -> None:
        with self._records:
            if document.doc_id not in self.fetched:
                self.fetched.append(document.doc_id)

    # -- helpers -------------------------------------------------------------------------------
    def node(self, doc_id: str) -> BaseNode:
        """The node with id ``doc_id`` (``DocumentNotFoundError``, a KeyError, when unknown)."""
        return self.document(doc_id).source.node

    def consulted(self) -> list[NodeWithScore]:
        """Nodes this run read whole (``get``) first, then the other search hits by score."""
        with self._records:
            fetched = list(self.fetched)
            hits = dict(self.hits)
        result = []
        for doc_id in fetched:
            hit = hits.pop(doc_id, None)
            result.append(hit if hit is not None else NodeWithScore(node=self.node(doc_id)))
        rest = sorted(hits.values(), key=lambda h: h.score or 0.0, reverse=True)
        return result + rest

    def _sized(self, limit: int) -> BaseRetriever:
        """A shallow copy of the retriever asking for ``limit`` nodes (see ``_resized``)."""
        sized = _resized(self.retriever, limit)
        if sized is not None:
            return sized
        if not self._warned:
            self._warned = True
            warnings.warn(
                f"{type(self.retriever).__name__} has no settable similarity_top_k, so it "
                "decides how many nodes a search returns and es_search's top_k only cuts "
                "them; configure its result count when you build it",
                UserWarning,
                stacklevel=4,
            )
        return self.retriever

    def __repr__(self) -> str:
        return f"LlamaIndexRetrieverAdapter({type(self.retriever).__name__})"


def _resized(retriever: BaseRetriever, limit: int) -> BaseRetriever | None:
    """A shallow copy of ``retriever`` with ``similarity_top_k = limit``, and with copies
    sized likewise of the retrievers it combines (``_retrievers``); None when neither it
    nor any retriever it combines has a settable ``similarity_top_k``."""
    sized = copy.copy(retriever)
    resized = False
    if isinstance(getattr(retriever, "similarity_top_k", None), int):
        try:
            sized.similarity_top_k = limit  # type: ignore[attr-defined]
        except AttributeError:
            pass
        else:
            resized = True
    inner = getattr(retriever, "_retrievers", None)
    if isinstance(inner, list) and inner and all(isinstance(r, BaseRetriever) for r in inner):
        parts = [_resized(part, limit) for part in inner]
        if any(part is not None for part in parts):
            sized._retrievers = [  # type: ignore[attr-defined]
                part if part is not None else original
                for part, original in zip(parts, inner, strict=True)
            ]
            resized = True
    return sized if resized else None


def _found(hit: NodeWithScore) -> FoundDocument[NodeWithScore]:
    return FoundDocument(
        doc_id=hit.node.node_id,
        content=hit.node.get_content(metadata_mode=MetadataMode.NONE),
        metadata=hit.node.metadata,
        score=hit.score if hit.score is not None else 0.0,
        source=hit,
    )
