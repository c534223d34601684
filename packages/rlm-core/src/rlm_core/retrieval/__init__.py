"""Retrieval: search a corpus from inside the REPL (``es_search`` and friends).

``RetrieverProtocol`` is the contract; ``SingleSearchRetriever`` the base for
adapters over a retriever with one kind of search (the LangChain and LlamaIndex
integrations); ``BM25Retriever`` is the in-memory default
(extra ``bm25``); ``ElasticsearchRetriever`` / ``AsyncElasticsearchRetriever``
talk to an Elasticsearch-API server (extra ``elasticsearch``). The optional
dependencies are imported only when those classes are first used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rlm_core.retrieval.base import (
    AsyncRetrieverProtocol,
    Document,
    EmbeddingFn,
    Filters,
    RetrieverProtocol,
    SearchHit,
)
from rlm_core.retrieval.errors import (
    AuthenticationError,
    DocumentNotFoundError,
    EmbeddingError,
    IndexNotFoundError,
    MappingError,
    RetrieverConnectionError,
    RetrieverError,
)
from rlm_core.retrieval.filters import Condition, matches_filters, parse_filters
from rlm_core.retrieval.fusion import reciprocal_rank_fusion, weighted_fusion
from rlm_core.retrieval.metrics import ndcg_at_k, recall_at_k
from rlm_core.retrieval.multiquery import QueryRewriter, union_pool
from rlm_core.retrieval.rerank import ListwiseReranker, TournamentReranker
from rlm_core.retrieval.single_search import FoundDocument, SingleSearchRetriever

if TYPE_CHECKING:
    from rlm_core.retrieval.bm25 import BM25Retriever
    from rlm_core.retrieval.elastic import ElasticsearchRetriever
    from rlm_core.retrieval.elastic_async import AsyncElasticsearchRetriever

_LAZY = {
    "BM25Retriever": "rlm_core.retrieval.bm25",
    "ElasticsearchRetriever": "rlm_core.retrieval.elastic",
    "AsyncElasticsearchRetriever": "rlm_core.retrieval.elastic_async",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'rlm_core.retrieval' has no attribute {name!r}")


__all__ = [
    "AsyncElasticsearchRetriever",
    "AsyncRetrieverProtocol",
    "AuthenticationError",
    "BM25Retriever",
    "Condition",
    "Document",
    "DocumentNotFoundError",
    "ElasticsearchRetriever",
    "EmbeddingError",
    "EmbeddingFn",
    "Filters",
    "FoundDocument",
    "IndexNotFoundError",
    "ListwiseReranker",
    "MappingError",
    "QueryRewriter",
    "RetrieverConnectionError",
    "RetrieverError",
    "RetrieverProtocol",
    "SearchHit",
    "SingleSearchRetriever",
    "TournamentReranker",
    "matches_filters",
    "ndcg_at_k",
    "parse_filters",
    "recall_at_k",
    "reciprocal_rank_fusion",
    "union_pool",
    "weighted_fusion",
]
