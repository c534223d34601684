"""``ElasticsearchRetriever``: BM25, kNN and hybrid search on an Elasticsearch index.

A thin sync shell: every operation is planned in ``_es_plan`` and performed here
with the blocking client."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rlm_core.retrieval._es_base import EsRetrieverBase
from rlm_core.retrieval._es_common import import_elasticsearch
from rlm_core.retrieval._es_plan import (
    Effect,
    Embed,
    Gather,
    Plan,
    Request,
    T,
    client_method,
    drive,
)
from rlm_core.retrieval.base import Document, Filters, SearchHit


class ElasticsearchRetriever(EsRetrieverBase):
    """Search an Elasticsearch index with standard DSL only.

    ``search`` is a BM25 ``match`` on ``content_field``; ``vector_search`` is a
    ``knn`` search on the ``dense_vector`` field ``vector_field``; ``hybrid_search``
    fuses the two lists client-side (reciprocal rank fusion, or weighted scores).
    Metadata is the flat ``_source`` fields beside the content by default, or the
    object under ``metadata_field=`` ("nested" layout). ``filters`` (term, any-of,
    range, exists, prefix, not; see ``rlm_core.retrieval.filters``) become a
    ``bool`` filter / ``must_not`` on those fields.
    Embeddings come from ``embedding_fn`` or an OpenAI-compatible endpoint
    (``embedding_model=``, ``embedding_base_url=``). Implements ``RetrieverProtocol``.
    """

    def _new_client(self, es: Any, kwargs: dict[str, Any]) -> Any:
        return es.Elasticsearch(**kwargs)

    # -- RetrieverProtocol ----------------------------------------------------------------
    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 ``match`` query on the content field."""
        return self._run(self._plan.search(query, top_k, filters))

    def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """kNN search on the dense_vector field with the query's embedding."""
        return self._run(self._plan.vector_search(query, top_k, filters))

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 and kNN results fused client-side."""
        return self._run(self._plan.hybrid_search(query, top_k, filters))

    def get(self, doc_id: str) -> Document:
        """The whole document; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        return self._run(self._plan.get(doc_id))

    # -- index management -----------------------------------------------------------------
    def create_index(
        self, dims: int | None = None, *, similarity: str = "cosine", recreate: bool = False
    ) -> None:
        """Create the index: text content, keyword metadata and, when ``dims`` is given
        (or an embedder is configured, whose output size is probed), a dense_vector field."""
        self._run(self._plan.create_index(dims, similarity, recreate))

    def bulk_index(
        self,
        documents: Sequence[str] | Sequence[Mapping[str, Any]],
        *,
        refresh: bool = True,
        batch_size: int = 500,
        embed: bool | None = None,
    ) -> int:
        """Index documents (str or {doc_id, content, metadata}); embeds them too when an
        embedder is configured (or ``embed=True``). Returns how many were indexed."""
        return self._run(self._plan.bulk_index(documents, refresh, batch_size, embed))

    def delete_index(self) -> None:
        """Delete the index (no error when it does not exist)."""
        self._run(self._plan.delete_index())

    def count(self) -> int:
        """Number of documents in the index."""
        return self._run(self._plan.count())

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ElasticsearchRetriever:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- performing the planned effects ---------------------------------------------------
    def _run(self, plan: Plan[T]) -> T:
        return drive(plan, self._perform)

    def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Request):
            return client_method(self.client, effect.api)(**effect.kwargs)
        if isinstance(effect, Gather):
            return [self._perform(request) for request in effect.requests]
        if isinstance(effect, Embed):
            assert self.embedder is not None  # the planner checks before embedding
            return self.embedder(effect.texts)
        es = import_elasticsearch()
        done, _ = es.helpers.bulk(self.client, effect.actions, refresh=False, raise_on_error=True)
        return done
