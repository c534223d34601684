"""``BM25Retriever``: an in-memory index, the embedded default retriever."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from rlm_core.errors import ConfigError
from rlm_core.retrieval._bm25_backends import DEFAULT_BACKEND, make_scorer, simple_tokenize
from rlm_core.retrieval.base import (
    Document,
    EmbeddingFn,
    Filters,
    SearchHit,
    check_embeddings,
    check_positive,
    check_query,
    make_preview,
    normalize_documents,
)
from rlm_core.retrieval.errors import DocumentNotFoundError, EmbeddingError
from rlm_core.retrieval.filters import Condition, matches_filters
from rlm_core.retrieval.fusion import check_hybrid, fuse


class BM25Retriever:
    """BM25 keyword search over documents held in memory, plus optional vector and
    hybrid search when ``embedding_fn(list[str]) -> list[list[float]]`` is given.

    Implements ``RetrieverProtocol``. Scores use Okapi BM25 (k1, b); ``backend``
    is "bm25s" (default, fastest) or "rank_bm25". ``filters`` are the shared
    metadata filters (``rlm_core.retrieval.filters``: term, any-of, range, exists,
    prefix, not), applied before the ``top_k`` cut.
    """

    def __init__(
        self,
        documents: Sequence[str] | Sequence[Mapping[str, Any]],
        embedding_fn: EmbeddingFn | None = None,
        *,
        preview_chars: int = 200,
        backend: str = DEFAULT_BACKEND,
        tokenizer: Callable[[str], list[str]] | None = None,
        k1: float = 1.5,
        b: float = 0.75,
        hybrid_method: str = "rrf",
        rrf_k: int = 60,
        hybrid_weight: float = 0.5,
        candidates: int = 100,
        embed_batch_size: int = 256,
    ) -> None:
        if embedding_fn is not None and not callable(embedding_fn):
            raise ConfigError("embedding_fn must be callable: list[str] -> list[list[float]]")
        if (
            not isinstance(k1, int | float)
            or k1 < 0
            or not isinstance(b, int | float)
            or not 0 <= b <= 1
        ):
            raise ConfigError(f"need k1 >= 0 and 0 <= b <= 1, got k1={k1!r}, b={b!r}")
        self.documents = normalize_documents(documents)
        self.preview_chars = check_positive("preview_chars", preview_chars)
        self.candidates = check_positive("candidates", candidates)
        self.embed_batch_size = check_positive("embed_batch_size", embed_batch_size)
        self.hybrid_method = check_hybrid(hybrid_method, rrf_k, hybrid_weight)
        self.rrf_k = rrf_k
        self.hybrid_weight = float(hybrid_weight)
        self.embedding_fn = embedding_fn
        self.backend = backend
        self._tokenize = tokenizer or simple_tokenize
        self._index = {doc["doc_id"]: i for i, doc in enumerate(self.documents)}
        corpus = [self._tokenize(doc["content"]) for doc in self.documents]
        self._scorer = make_scorer(backend, corpus, float(k1), float(b))
        self._vectors: np.ndarray[Any, np.dtype[np.float64]] | None = None

    def __len__(self) -> int:
        return len(self.documents)

    # -- RetrieverProtocol ----------------------------------------------------------------
    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 keyword search; only documents sharing a term with the query are returned."""
        query, top_k, wanted = check_query(query, top_k, filters)
        scores = self._scorer.scores(list(dict.fromkeys(self._tokenize(query))))
        return self._top(scores, top_k, wanted, positive_only=True)

    def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """Cosine similarity between the query's and the documents' embeddings."""
        query, top_k, wanted = check_query(query, top_k, filters)
        matrix = self._document_vectors()
        query_vector = _unit(np.asarray(self._embed([query]), dtype=np.float64))
        if query_vector.shape[1] != matrix.shape[1]:
            raise EmbeddingError(
                f"embedding_fn gave a {query_vector.shape[1]}-dim query vector but "
                f"{matrix.shape[1]}-dim document vectors; it must always return one size"
            )
        return self._top(matrix @ query_vector[0], top_k, wanted, positive_only=False)

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 and vector results fused (reciprocal rank fusion, or weighted scores)."""
        query, top_k, _ = check_query(query, top_k, filters)
        pool = max(top_k, self.candidates)
        keyword = self.search(query, pool, filters)
        vector = self.vector_search(query, pool, filters)
        return fuse(
            keyword,
            vector,
            method=self.hybrid_method,
            rrf_k=self.rrf_k,
            vector_weight=self.hybrid_weight,
            top_k=top_k,
        )

    def get(self, doc_id: str) -> Document:
        """The whole document; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        index = self._index.get(str(doc_id))
        if index is None:
            raise DocumentNotFoundError(str(doc_id), f"this BM25Retriever ({len(self)} documents)")
        doc = self.documents[index]
        return {
            "doc_id": doc["doc_id"],
            "content": doc["content"],
            "metadata": dict(doc["metadata"]),
        }

    # -- internals ------------------------------------------------------------------------
    def _top(
        self,
        scores: np.ndarray[Any, np.dtype[np.float64]],
        top_k: int,
        filters: tuple[Condition, ...],
        *,
        positive_only: bool,
    ) -> list[SearchHit]:
        scores = np.array(scores, dtype=np.float64, copy=True)
        if filters:
            mask = np.fromiter(
                (matches_filters(doc["metadata"], filters) for doc in self.documents),
                dtype=bool,
                count=len(self.documents),
            )
            scores[~mask] = -np.inf
        eligible = int(np.count_nonzero(scores > 0 if positive_only else np.isfinite(scores)))
        k = min(top_k, eligible)
        if k == 0:
            return []
        part = np.argpartition(-scores, k - 1)[:k] if k < len(scores) else np.arange(len(scores))
        order = part[np.lexsort((part, -scores[part]))]  # score desc, then index asc
        hits: list[SearchHit] = []
        for i in order[:k]:
            doc = self.documents[int(i)]
            hits.append(
                {
                    "doc_id": doc["doc_id"],
                    "preview": make_preview(doc["content"], self.preview_chars),
                    "score": float(scores[i]),
                    "metadata": dict(doc["metadata"]),
                }
            )
        return hits

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if self.embedding_fn is None:
            raise EmbeddingError(
                "vector_search and hybrid_search need embeddings: create the retriever with "
                "BM25Retriever(documents, embedding_fn=...) where embedding_fn(list[str]) "
                "returns one list[float] per text; use search() for keyword-only retrieval"
            )
        try:
            vectors = self.embedding_fn(texts)
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"embedding_fn failed: {type(error).__name__}: {error}") from error
        return check_embeddings(vectors, len(texts))

    def _document_vectors(self) -> np.ndarray[Any, np.dtype[np.float64]]:
        if self._vectors is None:
            texts = [doc["content"] for doc in self.documents]
            rows: list[list[float]] = []
            for start in range(0, len(texts), self.embed_batch_size):
                rows.extend(self._embed(texts[start : start + self.embed_batch_size]))
            if len({len(row) for row in rows}) > 1:
                raise EmbeddingError("embedding_fn returned vectors of different lengths")
            self._vectors = _unit(np.asarray(rows, dtype=np.float64).reshape(len(rows), -1))
        return self._vectors

    def __repr__(self) -> str:
        vectors = "yes" if self.embedding_fn is not None else "no"
        return f"BM25Retriever(documents={len(self)}, backend={self.backend!r}, vectors={vectors})"


def _unit(matrix: np.ndarray[Any, np.dtype[np.float64]]) -> np.ndarray[Any, np.dtype[np.float64]]:
    norms = np.linalg.norm(matrix, axis=1, keepdims=True)
    norms[norms == 0] = 1.0
    unit: np.ndarray[Any, np.dtype[np.float64]] = matrix / norms
    return unit
