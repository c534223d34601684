"""Any LlamaIndex ``BaseRetriever`` as rlm-core's document index (es_search / es_get)."""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore
from llama_index.core.storage.docstore.types import BaseDocumentStore

from rlm_core.errors import ConfigError

DEFAULT_PREVIEW_CHARS = 300


def _matches(metadata: Mapping[str, Any], filters: Mapping[str, Any] | None) -> bool:
    """Equality filters on node metadata; a list/tuple/set value means "any of these"."""
    if not filters:
        return True
    for key, wanted in filters.items():
        value = metadata.get(key)
        if isinstance(wanted, list | tuple | set | frozenset):
            if value not in wanted:
                return False
        elif value != wanted:
            return False
    return True


class LlamaIndexRetrieverAdapter:
    """Serves the core's retriever protocol from a LlamaIndex retriever.

    ``search`` / ``vector_search`` / ``hybrid_search`` all call the wrapped
    retriever (it decides how it searches; ``top_k`` cuts its results and
    ``filters`` are equality checks on node metadata). ``get(doc_id)`` returns a
    node seen in an earlier search, or one from ``docstore`` / ``nodes``.
    The adapter records what a run searched and read (``hits``, ``fetched``)
    so the query engine can report source nodes.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        *,
        docstore: BaseDocumentStore | None = None,
        nodes: Iterable[BaseNode] | None = None,
        preview_chars: int = DEFAULT_PREVIEW_CHARS,
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
        if (
            isinstance(preview_chars, bool)
            or not isinstance(preview_chars, int)
            or preview_chars < 1
        ):
            raise ConfigError(f"preview_chars must be an int >= 1, got {preview_chars!r}")
        self.retriever = retriever
        self.docstore = docstore
        self.preview_chars = preview_chars
        self._known: dict[str, BaseNode] = {}
        for node in nodes or ():
            if not isinstance(node, BaseNode):
                raise ConfigError(f"nodes must be LlamaIndex nodes, got {type(node).__name__}")
            self._known[node.node_id] = node
        self.hits: dict[str, NodeWithScore] = {}
        self.fetched: list[str] = []
        self._lock = threading.Lock()

    def fresh(self) -> LlamaIndexRetrieverAdapter:
        """A new adapter over the same retriever and stores, with empty records (one per run)."""
        clone = LlamaIndexRetrieverAdapter(
            self.retriever, docstore=self.docstore, preview_chars=self.preview_chars
        )
        clone._known = self._known  # nodes seen in any run stay readable by id
        return clone

    # -- the retriever protocol ----------------------------------------------------------------
    def search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Run the retriever; ``[{doc_id, preview, score, metadata}]`` best first."""
        if not isinstance(query, str) or not query.strip():
            raise ValueError("search needs a non-empty query string")
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an int >= 1, got {top_k!r}")
        found = [n for n in self.retriever.retrieve(query) if _matches(n.node.metadata, filters)]
        found = found[:top_k]
        with self._lock:
            for hit in found:
                self._known[hit.node.node_id] = hit.node
                seen = self.hits.get(hit.node.node_id)
                if seen is None or (hit.score or 0.0) > (seen.score or 0.0):
                    self.hits[hit.node.node_id] = hit
        return [self._record(hit) for hit in found]

    def vector_search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The wrapped retriever's search (semantic when the retriever is an embedding one)."""
        return self.search(query, top_k=top_k, filters=filters)

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Mapping[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """The wrapped retriever's search (hybrid when the retriever is a fusion one)."""
        return self.search(query, top_k=top_k, filters=filters)

    def get(self, doc_id: str) -> dict[str, Any]:
        """The whole node: ``{doc_id, content, metadata}``."""
        node = self.node(doc_id)
        with self._lock:
            if doc_id not in self.fetched:
                self.fetched.append(doc_id)
        return {
            "doc_id": node.node_id,
            "content": node.get_content(metadata_mode=MetadataMode.NONE),
            "metadata": dict(node.metadata),
        }

    # -- helpers -------------------------------------------------------------------------------
    def node(self, doc_id: str) -> BaseNode:
        """The node with id ``doc_id`` (KeyError naming the fix when it is unknown)."""
        doc_id = str(doc_id)
        node = self._known.get(doc_id)
        if node is None and self.docstore is not None:
            node = self.docstore.get_node(doc_id, raise_error=False)
        if node is None:
            raise KeyError(f"unknown doc_id {doc_id!r}: use a doc_id returned by es_search")
        return node

    def _record(self, hit: NodeWithScore) -> dict[str, Any]:
        text = hit.node.get_content(metadata_mode=MetadataMode.NONE)
        return {
            "doc_id": hit.node.node_id,
            "preview": text[: self.preview_chars],
            "score": hit.score,
            "metadata": dict(hit.node.metadata),
        }

    def consulted(self) -> list[NodeWithScore]:
        """Nodes this run read whole (``get``) first, then the other search hits by score."""
        with self._lock:
            fetched = list(self.fetched)
            hits = dict(self.hits)
        result = []
        for doc_id in fetched:
            hit = hits.pop(doc_id, None)
            result.append(hit if hit is not None else NodeWithScore(node=self.node(doc_id)))
        rest = sorted(hits.values(), key=lambda h: h.score or 0.0, reverse=True)
        return result + rest

    def __repr__(self) -> str:
        return f"LlamaIndexRetrieverAdapter({type(self.retriever).__name__})"
