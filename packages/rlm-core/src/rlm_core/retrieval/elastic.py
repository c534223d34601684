"""``ElasticsearchRetriever``: BM25, kNN and hybrid search on an Elasticsearch index."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from rlm_core.retrieval.errors import EmbeddingError, RetrieverError
from rlm_core.retrieval.fusion import fuse


class ElasticsearchRetriever:
    """Search an Elasticsearch index with standard DSL only.

    ``search`` is a BM25 ``match`` on ``content_field``; ``vector_search`` is a
    ``knn`` search on the ``dense_vector`` field ``vector_field``; ``hybrid_search``
    fuses the two lists client-side (reciprocal rank fusion, or weighted scores).
    Filters become a bool filter of ``term``/``terms`` on ``metadata.<key>``.
    Embeddings come from ``embedding_fn`` or an OpenAI-compatible endpoint
    (``embedding_model=``, ``embedding_base_url=``). Implements ``RetrieverProtocol``.
    """

    def __init__(
        self,
        host: str = "http://localhost:9200",
        index: str = "documents",
        *,
        api_key: str | None = None,
        basic_auth: tuple[str, str] | None = None,
        client: Any = None,
        embedding_fn: EmbeddingFn | None = None,
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
            embedding_fn, embedding_model, embedding_base_url, embedding_api_key
        )
        if client is None:
            es = common.import_elasticsearch()
            client = es.Elasticsearch(
                **common.client_kwargs(host, api_key, basic_auth, request_timeout, client_options)
            )
        self.client = client
        self._dims: int | None = None
        self._vector_checked = False

    # -- RetrieverProtocol ----------------------------------------------------------------
    def search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 ``match`` query on the content field."""
        query, top_k, wanted = check_query(query, top_k, filters)
        body = common.match_body(self.options, query, top_k, wanted)
        return common.to_hits(
            self.options, self._call(self.client.search, index=self.options.index, **body)
        )

    def vector_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """kNN search on the dense_vector field with the query's embedding."""
        query, top_k, wanted = check_query(query, top_k, filters)
        self._check_vector_field()
        vector = self._embed([query])[0]
        body = common.knn_body(self.options, vector, top_k, wanted)
        return common.to_hits(
            self.options, self._call(self.client.search, index=self.options.index, **body)
        )

    def hybrid_search(
        self, query: str, top_k: int = 10, filters: Filters | None = None
    ) -> list[SearchHit]:
        """BM25 and kNN results fused client-side."""
        query, top_k, wanted = check_query(query, top_k, filters)
        pool = max(top_k, min(self.options.num_candidates, 100))
        vector = self.vector_search(query, pool, wanted)
        keyword = self.search(query, pool, wanted)
        o = self.options
        return fuse(
            keyword,
            vector,
            method=o.hybrid_method,
            rrf_k=o.rrf_k,
            vector_weight=o.hybrid_weight,
            top_k=top_k,
        )

    def get(self, doc_id: str) -> Document:
        """The whole document; ``DocumentNotFoundError`` (a KeyError) if unknown."""
        response = self._call(
            self.client.get,
            doc_id=str(doc_id),
            index=self.options.index,
            id=str(doc_id),
            source_excludes=[self.options.vector_field],
        )
        return common.to_document(self.options, response)

    # -- index management -----------------------------------------------------------------
    def create_index(
        self, dims: int | None = None, *, similarity: str = "cosine", recreate: bool = False
    ) -> None:
        """Create the index: text content, keyword metadata and, when ``dims`` is given
        (or an embedder is configured, whose output size is probed), a dense_vector field."""
        if dims is None and self.embedder is not None:
            dims = len(self._embed(["dimension probe"])[0])
        if dims is not None:
            check_positive("dims", dims)
        if recreate:
            self._call(
                self.client.indices.delete, index=self.options.index, ignore_unavailable=True
            )
        mapping = common.index_mapping(self.options, dims, similarity)
        self._call(self.client.indices.create, index=self.options.index, mappings=mapping)
        self._vector_checked, self._dims = False, None

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
        es = common.import_elasticsearch()
        docs = normalize_documents(documents)
        check_positive("batch_size", batch_size)
        embed = self.embedder is not None if embed is None else embed
        total = 0
        for start in range(0, len(docs), batch_size):
            chunk = docs[start : start + batch_size]
            vectors = self._embed([d["content"] for d in chunk]) if embed else None
            actions = common.bulk_actions(self.options, chunk, vectors)
            try:
                done, _ = es.helpers.bulk(self.client, actions, refresh=False, raise_on_error=True)
            except es.helpers.BulkIndexError as error:
                raise _bulk_failure(self.options.index, error.errors) from None
            except Exception as error:
                raise common.translate(error, self.options) from error
            total += int(done)
        if refresh:
            self._call(self.client.indices.refresh, index=self.options.index)
        return total

    def delete_index(self) -> None:
        """Delete the index (no error when it does not exist)."""
        self._call(self.client.indices.delete, index=self.options.index, ignore_unavailable=True)

    def count(self) -> int:
        """Number of documents in the index."""
        return int(self._call(self.client.count, index=self.options.index)["count"])

    def close(self) -> None:
        self.client.close()

    def __enter__(self) -> ElasticsearchRetriever:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()

    # -- internals ------------------------------------------------------------------------
    def _call(self, method: Callable[..., Any], doc_id: str | None = None, **kwargs: Any) -> Any:
        try:
            return method(**kwargs)
        except Exception as error:
            raise common.translate(error, self.options, doc_id) from error

    def _check_vector_field(self) -> None:
        if not self._vector_checked:
            mapping = self._call(self.client.indices.get_mapping, index=self.options.index)
            self._dims = common.check_vector_mapping(self.options, mapping)
            self._vector_checked = True

    def _embed(self, texts: list[str]) -> list[list[float]]:
        if self.embedder is None:
            raise EmbeddingError(
                "vector and hybrid search need embeddings: pass embedding_fn=... or "
                "embedding_model=... (with embedding_base_url= for a non-OpenAI server)"
            )
        try:
            vectors = check_embeddings(self.embedder(texts), len(texts))
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"embedding failed: {type(error).__name__}: {error}") from error
        _check_dims(self._dims, vectors, self.options)
        return vectors

    def __repr__(self) -> str:
        return f"ElasticsearchRetriever(host={self.options.host!r}, index={self.options.index!r})"


def _check_dims(dims: int | None, vectors: list[list[float]], opts: common.EsOptions) -> None:
    if dims is not None and vectors and len(vectors[0]) != dims:
        raise EmbeddingError(
            f"the embedder returns {len(vectors[0])}-dim vectors but field "
            f"{opts.vector_field!r} of {opts.index!r} holds {dims}-dim vectors; use the "
            "embedding model the index was built with"
        )


def _bulk_failure(index: str, errors: list[Any]) -> RetrieverError:
    first = errors[0] if errors else {}
    detail = next(iter(first.values()), {}) if isinstance(first, dict) else first
    reason = detail.get("error", detail) if isinstance(detail, dict) else detail
    return RetrieverError(
        f"{len(errors)} document(s) failed to index into {index!r}; first error: {reason}. "
        "Check that the documents match the mapping (e.g. vector dims)"
    )
