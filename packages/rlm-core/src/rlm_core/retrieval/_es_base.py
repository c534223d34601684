"""The constructor both Elasticsearch retrievers share: options, embedder, client, planner."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rlm_core.retrieval import _es_common as common
from rlm_core.retrieval._es_plan import EsPlanner
from rlm_core.retrieval.base import EmbeddingFn


class EsRetrieverBase:
    """Validated options, the embedder, the client and the ``EsPlanner``.

    ``metadata_field=None`` (the default) reads and writes metadata as the flat
    ``_source`` fields beside the content, as pyrlm-runtime does; a field name such
    as ``"metadata"`` keeps it nested under that one object field.

    Subclasses create their client in ``_new_client`` and perform the planner's effects.
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
        metadata_field: str | None = None,
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
            kwargs = common.client_kwargs(
                host, api_key, basic_auth, request_timeout, client_options
            )
            client = self._new_client(common.import_elasticsearch(), kwargs)
        self.client = client
        self._plan = EsPlanner(self.options, has_embedder=self.embedder is not None)

    def _new_client(self, es: Any, kwargs: dict[str, Any]) -> Any:
        raise NotImplementedError

    def __repr__(self) -> str:
        o = self.options
        return f"{type(self).__name__}(host={o.host!r}, index={o.index!r})"
