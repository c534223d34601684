"""``AsyncElasticsearchRetriever``: the async twin of ``ElasticsearchRetriever``.

A thin async shell over the same plans (``_es_plan``) as the sync retriever."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Mapping, Sequence
from typing import Any

from rlm_core.retrieval._es_base import EsRetrieverBase
from rlm_core.retrieval._es_plan import (
    Effect,
    Embed,
    Gather,
    Plan,
    Request,
    T,
    adrive,
    client_method,
)
from rlm_core.retrieval.base import Document, Filters, SearchHit


class AsyncElasticsearchRetriever(EsRetrieverBase):
    """Same options and behaviour as ``ElasticsearchRetriever``, every method awaited.

    Uses ``AsyncElasticsearch`` over httpx (``node_class="httpxasync"``) unless a
    ``client`` or another ``node_class`` is given. ``embedding_fn`` may be sync or
    async. Hybrid search runs its two queries concurrently. Implements
    ``AsyncRetrieverProtocol``.
    """

    def _new_client(self, es: Any, kwargs: dict[str, Any]) -> Any:
        kwargs.setdefault("node_class", "httpxasync")
        return es.AsyncElasticsearch(**kwargs)

    # -- AsyncRetrieverProtocol -----------------------------------------------------------
    async def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 ``match`` query on the content field."""
        return await self._run(self._plan.search(query, top_k, filters))

    async def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """kNN search on the dense_vector field with the query's embedding."""
        return await self._run(self._plan.vector_search(query, top_k, filters))

    async def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 and kNN results (fetched concurrently) fused client-side."""
        return await self._run(self._plan.hybrid_search(query, top_k, filters))

    async def get(self, doc_id: str) -> Document:
        """The whole document; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        return await self._run(self._plan.get(doc_id))

    # -- index management -----------------------------------------------------------------
    async def create_index(
        self, dims: int | None = None, *, similarity: str = "cosine", recreate: bool = False
    ) -> None:
        """See ``ElasticsearchRetriever.create_index``."""
        await self._run(self._plan.create_index(dims, similarity, recreate))

    async def bulk_index(
        self,
        documents: Sequence[str] | Sequence[Mapping[str, Any]],
        *,
        refresh: bool = True,
        batch_size: int = 500,
        embed: bool | None = None,
    ) -> int:
        """See ``ElasticsearchRetriever.bulk_index``."""
        return await self._run(self._plan.bulk_index(documents, refresh, batch_size, embed))

    async def delete_index(self) -> None:
        await self._run(self._plan.delete_index())

    async def count(self) -> int:
        return await self._run(self._plan.count())

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> AsyncElasticsearchRetriever:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # -- performing the planned effects ---------------------------------------------------
    async def _run(self, plan: Plan[T]) -> T:
        return await adrive(plan, self._perform)

    async def _perform(self, effect: Effect) -> Any:
        if isinstance(effect, Request):
            return await client_method(self.client, effect.api)(**effect.kwargs)
        if isinstance(effect, Gather):
            return await asyncio.gather(*(self._perform(r) for r in effect.requests))
        if isinstance(effect, Embed):
            return await self._embed(effect.texts)
        from elasticsearch.helpers import async_bulk

        done, _ = await async_bulk(self.client, effect.actions, refresh=False, raise_on_error=True)
        return done

    async def _embed(self, texts: list[str]) -> Any:
        embedder = self.embedder
        assert embedder is not None  # the planner checks before embedding
        native = getattr(embedder, "aembed", None)
        if native is not None:
            return await native(texts)
        if inspect.iscoroutinefunction(embedder):
            return await embedder(texts)
        return await asyncio.to_thread(embedder, texts)
