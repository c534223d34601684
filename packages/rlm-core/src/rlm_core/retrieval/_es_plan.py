"""Every Elasticsearch operation written once, without I/O.

Each operation is a generator that yields *effects* (a client request, a batch of
requests that may run concurrently, an embedding call, a bulk upload) and receives
their results. ``ElasticsearchRetriever`` and ``AsyncElasticsearchRetriever`` are
thin shells that perform the effects with the sync or async client; validation,
request bodies, response parsing and error translation all live here.
A failed effect is thrown back into its generator, so errors are translated here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Generator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from rlm_core.retrieval import _es_common as common
from rlm_core.retrieval.base import (
    Document,
    Filters,
    SearchHit,
    check_embeddings,
    check_positive,
    check_query,
    normalize_documents,
)
from rlm_core.retrieval.errors import EmbeddingError, RetrieverError
from rlm_core.retrieval.fusion import fuse

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Request:
    """One client call: ``api`` is a dotted client attribute such as ``"indices.create"``."""

    api: str
    kwargs: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Gather:
    """Independent requests; the async shell runs them concurrently. Result: their responses."""

    requests: tuple[Request, ...]


@dataclass(frozen=True, slots=True)
class Embed:
    """Call the embedder on ``texts``. Result: whatever it returned (checked here)."""

    texts: list[str]


@dataclass(frozen=True, slots=True)
class Bulk:
    """Upload ``actions`` with the client's bulk helper. Result: the number indexed."""

    actions: list[dict[str, Any]]


Effect = Request | Gather | Embed | Bulk
Plan = Generator[Effect, Any, T]


def client_method(client: Any, api: str) -> Any:
    """The bound client method named by a dotted ``api`` path."""
    target = client
    for part in api.split("."):
        target = getattr(target, part)
    return target


class EsPlanner:
    """The operations of an Elasticsearch retriever as effect generators.

    Holds the validated options and what the first vector search learns about the
    index mapping (the ``dense_vector`` dims)."""

    def __init__(self, options: common.EsOptions, *, has_embedder: bool) -> None:
        self.options = options
        self.has_embedder = has_embedder
        self._dims: int | None = None
        self._vector_checked = False

    # -- searches ---------------------------------------------------------------------------
    def search(self, query: str, top_k: int, filters: Filters | None) -> Plan[list[SearchHit]]:
        query, top_k, wanted = check_query(query, top_k, filters)
        body = common.match_body(self.options, query, top_k, wanted)
        response = yield from self._request("search", index=self.options.index, **body)
        return common.to_hits(self.options, response)

    def vector_search(
        self, query: str, top_k: int, filters: Filters | None
    ) -> Plan[list[SearchHit]]:
        query, top_k, wanted = check_query(query, top_k, filters)
        yield from self._check_vector_field()
        vector = (yield from self._embed([query]))[0]
        body = common.knn_body(self.options, vector, top_k, wanted)
        response = yield from self._request("search", index=self.options.index, **body)
        return common.to_hits(self.options, response)

    def hybrid_search(
        self, query: str, top_k: int, filters: Filters | None
    ) -> Plan[list[SearchHit]]:
        o = self.options
        query, top_k, wanted = check_query(query, top_k, filters)
        pool = max(top_k, min(o.num_candidates, 100))
        yield from self._check_vector_field()
        vector = (yield from self._embed([query]))[0]
        bodies = (
            common.match_body(o, query, pool, wanted),
            common.knn_body(o, vector, pool, wanted),
        )
        requests = tuple(Request("search", {"index": o.index, **body}) for body in bodies)
        try:
            keyword_response, vector_response = yield Gather(requests)
        except Exception as error:
            raise common.translate(error, o) from error
        return fuse(
            common.to_hits(o, keyword_response),
            common.to_hits(o, vector_response),
            method=o.hybrid_method,
            rrf_k=o.rrf_k,
            vector_weight=o.hybrid_weight,
            top_k=top_k,
        )

    def get(self, doc_id: str) -> Plan[Document]:
        doc_id = str(doc_id)
        response = yield from self._request(
            "get",
            doc_id=doc_id,
            index=self.options.index,
            id=doc_id,
            source_excludes=[self.options.vector_field],
        )
        return common.to_document(self.options, response)

    # -- index management -------------------------------------------------------------------
    def create_index(self, dims: int | None, similarity: str, recreate: bool) -> Plan[None]:
        if dims is None and self.has_embedder:
            dims = len((yield from self._embed(["dimension probe"]))[0])
        if dims is not None:
            check_positive("dims", dims)
        index = self.options.index
        if recreate:
            yield from self._request("indices.delete", index=index, ignore_unavailable=True)
        mapping = common.index_mapping(self.options, dims, similarity)
        yield from self._request("indices.create", index=index, mappings=mapping)
        self._vector_checked, self._dims = False, None

    def bulk_index(
        self,
        documents: Sequence[str] | Sequence[Mapping[str, Any]],
        refresh: bool,
        batch_size: int,
        embed: bool | None,
    ) -> Plan[int]:
        docs = normalize_documents(documents)
        check_positive("batch_size", batch_size)
        embed = self.has_embedder if embed is None else embed
        total = 0
        for start in range(0, len(docs), batch_size):
            chunk = docs[start : start + batch_size]
            vectors = (yield from self._embed([d["content"] for d in chunk])) if embed else None
            actions = common.bulk_actions(self.options, chunk, vectors)
            try:
                done = yield Bulk(actions)
            except Exception as error:
                es = common.import_elasticsearch()
                if isinstance(error, es.helpers.BulkIndexError):
                    raise bulk_failure(self.options.index, error.errors) from None
                raise common.translate(error, self.options) from error
            total += int(done)
        if refresh:
            yield from self._request("indices.refresh", index=self.options.index)
        return total

    def delete_index(self) -> Plan[None]:
        yield from self._request(
            "indices.delete", index=self.options.index, ignore_unavailable=True
        )

    def count(self) -> Plan[int]:
        response = yield from self._request("count", index=self.options.index)
        return int(response["count"])

    # -- steps ------------------------------------------------------------------------------
    def _request(self, api: str, doc_id: str | None = None, **kwargs: Any) -> Plan[Any]:
        try:
            return (yield Request(api, kwargs))
        except Exception as error:
            raise common.translate(error, self.options, doc_id) from error

    def _check_vector_field(self) -> Plan[None]:
        if not self._vector_checked:
            mapping = yield from self._request("indices.get_mapping", index=self.options.index)
            self._dims = common.check_vector_mapping(self.options, mapping)
            self._vector_checked = True

    def _embed(self, texts: list[str]) -> Plan[list[list[float]]]:
        if not self.has_embedder:
            raise EmbeddingError(
                "vector and hybrid search need embeddings: pass embedding_fn=... or "
                "embedding_model=... (with embedding_base_url= for a non-OpenAI server)"
            )
        try:
            vectors = check_embeddings((yield Embed(texts)), len(texts))
        except EmbeddingError:
            raise
        except Exception as error:
            raise EmbeddingError(f"embedding failed: {type(error).__name__}: {error}") from error
        dims = self._dims
        if dims is not None and vectors and len(vectors[0]) != dims:
            raise EmbeddingError(
                f"the embedder returns {len(vectors[0])}-dim vectors but field "
                f"{self.options.vector_field!r} of {self.options.index!r} holds {dims}-dim "
                "vectors; use the embedding model the index was built with"
            )
        return vectors


def bulk_failure(index: str, errors: list[Any]) -> RetrieverError:
    first = errors[0] if errors else {}
    detail = next(iter(first.values()), {}) if isinstance(first, dict) else first
    reason = detail.get("error", detail) if isinstance(detail, dict) else detail
    return RetrieverError(
        f"{len(errors)} document(s) failed to index into {index!r}; first error: {reason}. "
        "Check that the documents match the mapping (e.g. vector dims)"
    )


def drive(plan: Plan[T], perform: Callable[[Effect], Any]) -> T:
    """Run ``plan`` to completion, performing each effect with ``perform(effect)``."""
    try:
        effect = next(plan)
        while True:
            try:
                result = perform(effect)
            except Exception as error:
                effect = plan.throw(error)
            else:
                effect = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]


async def adrive(plan: Plan[T], perform: Callable[[Effect], Awaitable[Any]]) -> T:
    """``drive`` with an async ``perform``."""
    try:
        effect = next(plan)
        while True:
            try:
                result = await perform(effect)
            except Exception as error:
                effect = plan.throw(error)
            else:
                effect = plan.send(result)
    except StopIteration as stop:
        return stop.value  # type: ignore[no-any-return]
