"""``AsyncElasticsearchRetriever``: the async twin of ``ElasticsearchRetriever``."""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from rlm_core.retrieval import _es_common as common
from rlm_core.retrieval.base import (
    Document,
    EmbeddingFn,
    Filters,
    SearchHit,
    check_embeddings,
    check_positive,
    check_query,
    normalize_documents,
)
from rlm_core.retrieval.elastic import _bulk_failure, _check_dims
from rlm_core.retrieval.errors import EmbeddingError
from rlm_core.retrieval.fusion import fuse


class AsyncElasticsearchRetriever:
    """Same options and behaviour as ``ElasticsearchRetriever``, every method awaited.

    Uses ``AsyncElasticsearch`` over httpx (``node_class="httpxasync"``) unless a
    ``client`` or another ``node_class`` is given. ``embedding_fn`` may be sync or
    async. Implements ``AsyncRetrieverProtocol``.
    """

    def __init__(
        self,
        host: str = "http://localhost:9200",
        index: str = "documents",
        *,
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        client: Any = None,
        embedding_fn: EmbeddingFn | Callable[[list[str]], Awaitable[Any]] | None = None,
        embedding_model: str | None = None,
        embedding_base_url: str | None = None,
        embedding_api_key: str | None = None,
        content_field: str = "content",
        metadata_field: str = "metadata",
        vector_field: str = "embedding",
        preview_chars: int = 200,
        hybrid_method: str = "rrf",
        rrf_k: int = 60,
        hybrid_weight: float = 0.5,
        num_candidates: int = 100,
        request_timeout: float = 10.0,
        **client_options: Any,
    ) -> None:
        self.options = common.EsOptions.build(
            host=host,
            index=index,
            content_field=content_field,
            metadata_field=metadata_field,
            vector_field=vector_field,
            preview_chars=preview_chars,
            hybrid_method=hybrid_method,
            rrf_k=rrf_k,
            hybrid_weight=hybrid_weight,
            num_candidates=num_candidates,
        )
        self.embedder = common.pick_embedder(
            embedding_fn,
            embedding_model,
            embedding_base_url,
            embedding_api_key,
        )
        if client is None:
            es = common.import_elasticsearch()
            client_options.setdefault("node_class", "httpxasync")
            client = es.AsyncElasticsearch(
                **common.client_kwargs(host, api_key, basic_auth, request_timeout, client_options)
            )
        self.client = client
        self._dims: int | None = None
        self._vector_checked = False

    # -- AsyncRetrieverProtocol -----------------------------------------------------------
    async def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 ``match`` query on the content field."""
        query, top_k, wanted = check_query(query, top_k, filters)
        body = common.match_body(self.options, query, top_k, wanted)
        response = await self._call(self.client.search, index=self.options.index, **body)
        return common.to_hits(self.options, response)

    async def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """kNN search on the dense_vector field with the query's embedding."""
        query, top_k, wanted = check_query(query, top_k, filters)
        await self._check_vector_field()
        vector = (await self._embed([query]))[0]
        body = common.knn_body(self.options, vector, top_k, wanted)
        response = await self._call(self.client.search, index=self.options.index, **body)
        return common.to_hits(self.options, response)

    async def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 and kNN results (fetched concurrently) fused client-side."""
        query, top_k, wanted = check_query(query, top_k, filters)
        pool = max(top_k, min(self.options.num_candidates, 100))
        vector, keyword = await asyncio.gather(
            self.vector_search(query, pool, wanted), self.search(query, pool, wanted)
        )
        o = self.options
        return fuse(
            keyword,
            vector,
            method=o.hybrid_method,
            rrf_k=o.rrf_k,
            vector_weight=o.hybrid_weight,
            top_k=top_k,
        )

    async def get(self, doc_id: str) -> Document:
        """The whole document; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        response = await self._call(
            self.client.get,
            doc_id=str(doc_id),
            index=self.options.index,
            id=str(doc_id),
            source_excludes=[self.options.vector_field],
        )
        return common.to_document(self.options, response)

    # -- index management -----------------------------------------------------------------
    async def create_index(
        self, dims: int | None = None, *, similarity: str = "cosine", recreate: bool = False
    ) -> None:
        """See ``ElasticsearchRetriever.create_index``."""
        if dims is None and self.embedder is not None:
            dims = len((await self._embed(["dimension probe"]))[0])
        if dims is not None:
            check_positive("dims", dims)
        if recreate:
            await self._call(
                self.client.indices.delete, index=self.options.index, ignore_unavailable=True
            )
        mapping = common.index_mapping(self.options, dims, similarity)
        await self._call(self.client.indices.create, index=self.options.index, mappings=mapping)
        self._vector_checked, self._dims = False, None

    async def bulk_index(
        self,
        documents: Sequence[str] | Sequence[Mapping[str, Any]],
        *,
        refresh: bool = True,
        batch_size: int = 500,
        embed: bool | None = None,
    ) -> int:
        """See ``ElasticsearchRetriever.bulk_index``."""
        es = common.import_elasticsearch()
        from elasticsearch.helpers import async_bulk

        docs = normalize_documents(documents)
        check_positive("batch_size", batch_size)
        embed = self.embedder is not None if embed is None else embed
        total = 0
        for start in range(0, len(docs), batch_size):
            chunk = docs[start : start + batch_size]
            vectors = await self._embed([d["content"] for d in chunk]) if embed else None
            actions = common.bulk_actions(self.options, chunk, vectors)
            try:
                done, _ = await async_bulk(self.client, actions, refresh=False, raise_on_error=True)
            except es.helpers.BulkIndexError as error:
                raise _bulk_failure(self.options.index, error.errors) from None
            except Exception as error:
                raise common.translate(error, self.options) from error
            total += int(done)
        if refresh:
            await self._call(self.client.indices.refresh, index=self.options.index)
        return total

    async def delete_index(self) -> None:
        await self._call(
            self.client.indices.delete, index=self.options.index, ignore_unavailable=True
        )

    async def count(self) -> int:
        return int((await self._call(self.client.count, index=self.options.index))["count"])

    async def close(self) -> None:
        await self.client.close()

    async def __aenter__(self) -> AsyncElasticsearchRetriever:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self.close()

    # -- internals ------------------------------------------------------------------------
    async def _call(
        self, method: Callable[..., Awaitable[Any]], doc_id: str | None = None, **kwargs: Any
    ) -> Any:
        try:
            return await method(**kwargs)
        except Exception as error:
            raise common.translate(error, self.options, doc_id) from error

    async def _check_vector_field(self) -> None:
        if not self._vector_checked:
            mapping = await self._call(self.client.indices.get_mapping, index=self.options.index)
            self._dims = common.check_vector_mapping(self.options, mapping)
            self._vector_checked = True

    async def _embed(self, texts: list[str]) -> list[list[float]]:
        embedder = self.embedder
        if embedder is None:
            raise EmbeddingError(
                "vector and hybrid search need embeddings: pass embedding_fn=... or "
                "embedding_model=... (with embedding_base_url= for a non-OpenAI server)"
            )
        try:
            native = getattr(embedder, "aembed", None)
            if native is not None:
                raw = await native(texts)
            elif inspect.iscoroutinefunction(embedder):
                raw = await embedder(texts)
            else:
                raw = await asyncio.to_thread(embedder, texts)
            vectors = check_embeddings(raw, len(texts))
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"embedding failed: {type(error).__name__}: {error}") from error
        _check_dims(self._dims, vectors, self.options)
        return vectors

    def __repr__(self) -> str:
        return (
            f"AsyncElasticsearchRetriever(host={self.options.host!r}, index={self.options.index!r})"
        )
