"""What the sync and async Elasticsearch retrievers share: options, request bodies,
hit conversion and error translation. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
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
from rlm_core.retrieval.filters import Condition, es_bool_clauses
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
    """Validated field names and search options.

    ``metadata_field=None`` is the flat layout: every ``_source`` field except the
    content and vector fields is metadata, and filters name those fields. A name
    (e.g. ``"metadata"``) is the nested layout: metadata is the object under it and
    a filter on ``key`` queries ``<metadata_field>.key``."""

    host: str
    index: str
    content_field: str
    metadata_field: str | None
    vector_field: str
    preview_chars: int
    hybrid_method: HybridMethod
    rrf_k: int
    hybrid_weight: float
    num_candidates: int

    @classmethod
    def build(cls, **values: Any) -> EsOptions:
        for name in ("host", "index", "content_field", "metadata_field", "vector_field"):
            if name == "metadata_field" and values[name] is None:
                continue
            if not isinstance(values[name], str) or not values[name]:
                raise ConfigError(f"{name} must be a non-empty str, got {values[name]!r}")
        metadata_field = values["metadata_field"]
        if metadata_field in (values["content_field"], values["vector_field"]):
            raise ConfigError(
                f"metadata_field {metadata_field!r} is also the content or vector field; "
                "name another field, or use metadata_field=None for the flat layout"
            )
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
    """Mapping: analysed text content, metadata strings as ``keyword`` (exact filters),
    and an optional dense_vector. Flat layout: every other string field is a keyword."""
    properties: dict[str, Any] = {opts.content_field: {"type": "text"}}
    strings: dict[str, Any] = {"match_mapping_type": "string", "mapping": {"type": "keyword"}}
    if opts.metadata_field is not None:
        properties[opts.metadata_field] = {"type": "object"}
        strings["path_match"] = f"{opts.metadata_field}.*"
    if dims is not None:
        properties[opts.vector_field] = {
            "type": "dense_vector",
            "dims": dims,
            "index": True,
            "similarity": similarity,
        }
    return {"dynamic_templates": [{"metadata_strings": strings}], "properties": properties}


def field_name(opts: EsOptions, key: str) -> str:
    """The indexed field a filter on ``key`` queries."""
    prefix = opts.metadata_field
    if prefix is None or key.startswith(f"{prefix}."):
        return key
    return f"{prefix}.{key}"


def filter_query(opts: EsOptions, conditions: Sequence[Condition]) -> dict[str, Any]:
    """The ``bool`` body (``filter`` / ``must_not``) of the parsed filters."""
    return es_bool_clauses(conditions, lambda key: field_name(opts, key))


def match_body(
    opts: EsOptions, query: str, size: int, conditions: Sequence[Condition]
) -> dict[str, Any]:
    match = {"match": {opts.content_field: query}}
    body_query: dict[str, Any] = (
        {"bool": {"must": [match], **filter_query(opts, conditions)}} if conditions else match
    )
    return {"query": body_query, "size": size, "source_excludes": [opts.vector_field]}


def knn_body(
    opts: EsOptions, vector: list[float], size: int, conditions: Sequence[Condition]
) -> dict[str, Any]:
    knn: dict[str, Any] = {
        "field": opts.vector_field,
        "query_vector": vector,
        "k": size,
        "num_candidates": max(opts.num_candidates, size),
    }
    if conditions:
        knn["filter"] = {"bool": filter_query(opts, conditions)}
    return {"knn": knn, "size": size, "source_excludes": [opts.vector_field]}


def metadata_of(opts: EsOptions, source: Mapping[str, Any]) -> dict[str, Any]:
    """A document's metadata from its ``_source``, in either layout."""
    if opts.metadata_field is not None:
        return dict(source.get(opts.metadata_field) or {})
    skip = (opts.content_field, opts.vector_field)
    return {key: value for key, value in source.items() if key not in skip}


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
                "metadata": metadata_of(opts, source),
            }
        )
    return hits


def to_document(opts: EsOptions, response: Any) -> Document:
    source = response.get("_source") or {}
    return {
        "doc_id": str(response["_id"]),
        "content": str(source.get(opts.content_field, "")),
        "metadata": metadata_of(opts, source),
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
        source: dict[str, Any]
        if opts.metadata_field is not None:
            source = {opts.content_field: doc["content"], opts.metadata_field: doc["metadata"]}
        else:
            clash = {opts.content_field, opts.vector_field} & set(doc["metadata"])
            if clash:
                raise ConfigError(
                    f"document {doc['doc_id']!r} has metadata field {sorted(clash)[0]!r}, which "
                    "is also the content or vector field of this flat-layout index; rename it, "
                    "or keep metadata under one field with metadata_field='metadata'"
                )
            source = {**doc["metadata"], opts.content_field: doc["content"]}
        if vectors is not None:
            source[opts.vector_field] = vectors[i]
        actions.append({"_index": opts.index, "_id": doc["doc_id"], "_source": source})
    return actions
