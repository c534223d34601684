"""What the sync and async Elasticsearch retrievers share: options, request bodies,
hit conversion and error translation. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlm_core.errors import ConfigError
from rlm_core.retrieval.base import (
    Document,
    SearchHit,
    check_positive,
    make_preview,
)
from rlm_core.retrieval.errors import (
    AuthenticationError,
    DocumentNotFoundError,
    IndexNotFoundError,
    MappingError,
    RetrieverConnectionError,
    RetrieverError,
)
from rlm_core.retrieval.fusion import HybridMethod, check_hybrid


def import_elasticsearch() -> Any:
    try:
        import elasticsearch
        import elasticsearch.helpers
    except ImportError:
        raise ConfigError(
            "ElasticsearchRetriever needs the elasticsearch client: "
            "pip install 'rlm-core[elasticsearch]'"
        ) from None
    return elasticsearch


@dataclass(frozen=True, slots=True)
class EsOptions:
    """Validated field names and search options."""

    host: str
    index: str
    content_field: str
    metadata_field: str
    vector_field: str
    preview_chars: int
    hybrid_method: HybridMethod
    rrf_k: int
    hybrid_weight: float
    num_candidates: int

    @classmethod
    def build(cls, **values: Any) -> EsOptions:
        for name in ("host", "index", "content_field", "metadata_field", "vector_field"):
            if not isinstance(values[name], str) or not values[name]:
                raise ConfigError(f"{name} must be a non-empty str, got {values[name]!r}")
        check_positive("preview_chars", values["preview_chars"])
        check_positive("num_candidates", values["num_candidates"])
        values["hybrid_method"] = check_hybrid(
            values["hybrid_method"], values["rrf_k"], values["hybrid_weight"]
        )
        return cls(**values)


def client_kwargs(
    host: str,
    api_key: str | None,
    basic_auth: tuple[str, str] | None,
    timeout: float,
    extra: Mapping[str, Any],
) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"request_timeout": timeout, "max_retries": 1, **extra}
    if api_key is not None:
        kwargs["api_key"] = api_key
    if basic_auth is not None:
        kwargs["basic_auth"] = basic_auth
    return {"hosts": [host], **kwargs}


def pick_embedder(
    embedding_fn: Callable[[list[str]], Any] | None,
    embedding_model: str | None,
    embedding_base_url: str | None,
    embedding_api_key: str | None,
) -> Callable[[list[str]], Any] | None:
    if embedding_fn is not None and embedding_model is not None:
        raise ConfigError("pass either embedding_fn or embedding_model, not both")
    if embedding_fn is not None:
        if not callable(embedding_fn):
            raise ConfigError("embedding_fn must be callable: list[str] -> list[list[float]]")
        return embedding_fn
    if embedding_model is not None:
        from rlm_core.retrieval.embeddings import OpenAIEmbeddings

        return OpenAIEmbeddings(
            embedding_model, embedding_base_url or "https://api.openai.com/v1", embedding_api_key
        )
    return None


def index_mapping(opts: EsOptions, dims: int | None, similarity: str) -> dict[str, Any]:
    """Mapping: analysed text content, keyword metadata strings, optional dense_vector."""
    properties: dict[str, Any] = {
        opts.content_field: {"type": "text"},
        opts.metadata_field: {"type": "object"},
    }
    if dims is not None:
        properties[opts.vector_field] = {
            "type": "dense_vector",
            "dims": dims,
            "index": True,
            "similarity": similarity,
        }
    return {
        "dynamic_templates": [
            {
                "metadata_strings": {
                    "path_match": f"{opts.metadata_field}.*",
                    "match_mapping_type": "string",
                    "mapping": {"type": "keyword"},
                }
            }
        ],
        "properties": properties,
    }


def filter_clauses(opts: EsOptions, filters: Mapping[str, Any]) -> list[dict[str, Any]]:
    """term for a single value, terms for a list (any-of), on ``metadata.<key>``."""
    clauses: list[dict[str, Any]] = []
    for key, value in filters.items():
        field = key if key.startswith(f"{opts.metadata_field}.") else f"{opts.metadata_field}.{key}"
        if isinstance(value, list | tuple | set):
            clauses.append({"terms": {field: list(value)}})
        else:
            clauses.append({"term": {field: value}})
    return clauses


def match_body(
    opts: EsOptions, query: str, size: int, filters: Mapping[str, Any]
) -> dict[str, Any]:
    match = {"match": {opts.content_field: query}}
    body_query: dict[str, Any] = (
        {"bool": {"must": [match], "filter": filter_clauses(opts, filters)}} if filters else match
    )
    return {"query": body_query, "size": size, "source_excludes": [opts.vector_field]}


def knn_body(
    opts: EsOptions, vector: list[float], size: int, filters: Mapping[str, Any]
) -> dict[str, Any]:
    knn: dict[str, Any] = {
        "field": opts.vector_field,
        "query_vector": vector,
        "k": size,
        "num_candidates": max(opts.num_candidates, size),
    }
    if filters:
        knn["filter"] = {"bool": {"filter": filter_clauses(opts, filters)}}
    return {"knn": knn, "size": size, "source_excludes": [opts.vector_field]}


def to_hits(opts: EsOptions, response: Any) -> list[SearchHit]:
    hits: list[SearchHit] = []
    for hit in response["hits"]["hits"]:
        source = hit.get("_source") or {}
        hits.append(
            {
                "doc_id": str(hit["_id"]),
                "preview": make_preview(
                    str(source.get(opts.content_field, "")), opts.preview_chars
                ),
                "score": float(hit.get("_score") or 0.0),
                "metadata": dict(source.get(opts.metadata_field) or {}),
            }
        )
    return hits


def to_document(opts: EsOptions, response: Any) -> Document:
    source = response.get("_source") or {}
    return {
        "doc_id": str(response["_id"]),
        "content": str(source.get(opts.content_field, "")),
        "metadata": dict(source.get(opts.metadata_field) or {}),
    }


def check_vector_mapping(opts: EsOptions, mapping: Any) -> int | None:
    """The dense_vector dims of ``vector_field``; MappingError when it is not one."""
    entry: Any = mapping.get(opts.index) or next(iter(mapping.values()), {})
    properties: Any = entry.get("mappings", {}).get("properties", {})
    field = properties.get(opts.vector_field)
    if field is None or field.get("type") != "dense_vector":
        found = "missing" if field is None else f"of type {field.get('type')!r}"
        raise MappingError(
            f"index {opts.index!r} has no dense_vector field {opts.vector_field!r} (it is "
            f"{found}), so vector and hybrid search cannot run; recreate the index with "
            f"create_index(dims=N) and re-index with embeddings, or set vector_field= to the "
            "index's dense_vector field"
        )
    dims = field.get("dims")
    return int(dims) if dims is not None else None


def translate(error: BaseException, opts: EsOptions, doc_id: str | None = None) -> RetrieverError:
    """Map an elasticsearch-py exception to the retriever's error classes."""
    es = import_elasticsearch()
    if isinstance(error, es.AuthenticationException | es.AuthorizationException):
        verb = (
            "rejected the credentials"
            if isinstance(error, es.AuthenticationException)
            else ("denied access")
        )
        return AuthenticationError(
            f"Elasticsearch at {opts.host} {verb} (HTTP {error.meta.status}); check api_key= "
            f"or basic_auth=, and that the user may read index {opts.index!r}"
        )
    if isinstance(error, es.NotFoundError):
        if getattr(error, "error", "") == "index_not_found_exception" or "no such index" in str(
            error
        ):
            return IndexNotFoundError(
                f"index {opts.index!r} does not exist at {opts.host}; create it with "
                "create_index(...) and bulk_index(docs), or fix index="
            )
        if doc_id is not None:
            return DocumentNotFoundError(doc_id, f"index {opts.index!r}")
    if isinstance(error, es.BadRequestError):
        text = str(error)
        if (
            "dense_vector" in text
            or "dimensions" in text
            or "does not exist in the mapping" in text
        ):
            return MappingError(
                f"index {opts.index!r} cannot run this vector search: {_reason(error)}; check "
                "vector_field= and that embedding_fn returns vectors of the mapped dims"
            )
        return RetrieverError(f"Elasticsearch rejected the request: {_reason(error)}")
    if isinstance(error, es.ConnectionError | es.ConnectionTimeout):
        return RetrieverConnectionError(
            f"cannot reach Elasticsearch at {opts.host}: {error}; check the host and port, that "
            "the server is running, and the scheme (http vs https)"
        )
    if isinstance(error, es.UnsupportedProductError):
        return RetrieverConnectionError(
            f"the server at {opts.host} is not Elasticsearch (no X-Elastic-Product header); "
            "check host="
        )
    if isinstance(error, es.ApiError):
        return RetrieverError(f"Elasticsearch error (HTTP {error.meta.status}): {_reason(error)}")
    return RetrieverError(f"Elasticsearch request failed: {type(error).__name__}: {error}")


def _reason(error: Any) -> str:
    info = getattr(error, "info", None)
    if isinstance(info, Mapping):
        root = info.get("error")
        if isinstance(root, Mapping) and root.get("reason"):
            return str(root["reason"])
    return str(getattr(error, "message", error))


def bulk_actions(
    opts: EsOptions, docs: list[Document], vectors: list[list[float]] | None
) -> list[dict[str, Any]]:
    actions = []
    for i, doc in enumerate(docs):
        source: dict[str, Any] = {
            opts.content_field: doc["content"],
            opts.metadata_field: doc["metadata"],
        }
        if vectors is not None:
            source[opts.vector_field] = vectors[i]
        actions.append({"_index": opts.index, "_id": doc["doc_id"], "_source": source})
    return actions
