"""``RLMRetriever``: documents selected and ordered by an RLM (or a reranker)."""

from __future__ import annotations

import re
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManagerForRetrieverRun,
    CallbackManagerForRetrieverRun,
)
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field, model_validator

from rlm_langchain.adapter import require_chat_model
from rlm_langchain.engine import EngineSpec, config_errors_unwrapped
from rlm_langchain.keywords import collect_rlm_options, field_names

RANK_QUERY = (
    "Search query: {query}\n\n"
    "P holds {count} candidate documents. Each one starts with its id in brackets on its own "
    "line, like [d0]. Select the documents that help answer the search query and order them "
    "from most to least relevant. Set ranking = a Python list of their ids, best first "
    "(e.g. ['d3', 'd0']), then finish with: FINAL_VAR: ranking"
)
_ID = re.compile(r"\bd(\d+)\b")


def candidate_text(index: int, document: Document) -> str:
    """How candidate ``index`` appears in the RLM's context."""
    return f"[d{index}]\n{document.page_content}"


def parse_ranking(answer: str, count: int) -> list[int]:
    """Candidate indexes named in ``answer`` (``d3``, ``'d0'``, ...), in order, without repeats."""
    seen: list[int] = []
    for match in _ID.finditer(answer):
        index = int(match.group(1))
        if index < count and index not in seen:
            seen.append(index)
    return seen


class RLMRetriever(BaseRetriever):
    """Selects and orders documents for a query.

    Candidates come from ``base_retriever`` or a fixed ``documents`` list. With
    ``llm``, an RLM reads them from its REPL and returns a ranked list of ids
    (documents it leaves out are dropped); with ``reranker`` (any
    ``BaseDocumentCompressor``) the reranker orders them instead. At most ``k``
    documents are returned (``invoke(query, k=...)`` overrides it).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: BaseChatModel | None = None
    """The root model of the ranking RLM."""
    sub_llm: BaseChatModel | None = None
    """The sub-call model of the ranking RLM; defaults to ``llm``."""
    reranker: BaseDocumentCompressor | None = None
    """Order candidates with this reranker instead of an RLM."""
    base_retriever: BaseRetriever | None = None
    """Where candidates come from, for each query."""
    documents: list[Document] | None = None
    """A fixed candidate list, instead of ``base_retriever``."""
    k: int = 4
    """How many documents to return at most."""
    rlm_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options of ``rlm_core.RLM``."""

    @model_validator(mode="before")
    @classmethod
    def _check_inputs(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = collect_rlm_options("RLMRetriever", values, field_names(cls.model_fields))
        if (values.get("base_retriever") is None) == (values.get("documents") is None):
            raise ValueError(
                "RLMRetriever needs exactly one source of candidates: base_retriever=... "
                "or documents=[...]"
            )
        if (values.get("llm") is None) == (values.get("reranker") is None):
            raise ValueError(
                "RLMRetriever ranks with exactly one of llm=<chat model> (an RLM) or "
                "reranker=<BaseDocumentCompressor>"
            )
        for name in ("llm", "sub_llm"):
            if values.get(name) is not None:
                require_chat_model(values[name], name)
        k = values.get("k", 4)
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        return values

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with config_errors_unwrapped():
            super().__init__(*args, **kwargs)

    @model_validator(mode="after")
    def _check_engine(self) -> RLMRetriever:
        if self.llm is not None:
            self._spec().validate()
        return self

    def _spec(self) -> EngineSpec:
        assert self.llm is not None
        return EngineSpec(self.llm, self.sub_llm, None, self.rlm_options)

    def _limit(self, k: int | None) -> int:
        if k is None:
            return self.k
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise ValueError(f"k must be a positive int, got {k!r}")
        return k

    def _rank_query(self, query: str, count: int) -> str:
        return RANK_QUERY.format(query=query, count=count)

    def _pick(self, candidates: list[Document], answer: str, k: int) -> list[Document]:
        return [candidates[i] for i in parse_ranking(answer, len(candidates))][:k]

    # -- sync -------------------------------------------------------------------------------
    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, k: int | None = None
    ) -> list[Document]:
        limit = self._limit(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        if self.base_retriever is not None:
            candidates = self.base_retriever.invoke(query, config=config)
        else:
            candidates = list(self.documents or [])
        if not candidates:
            return []
        if self.reranker is not None:
            ranked = self.reranker.compress_documents(
                candidates, query, callbacks=run_manager.get_child()
            )
            return list(ranked)[:limit]
        texts = [candidate_text(i, doc) for i, doc in enumerate(candidates)]
        answer, _ = (
            self._spec().bind(config).rlm.run(self._rank_query(query, len(candidates)), texts)
        )
        return self._pick(candidates, answer, limit)

    # -- async ------------------------------------------------------------------------------
    async def _aget_relevant_documents(
        self,
        query: str,
        *,
        run_manager: AsyncCallbackManagerForRetrieverRun,
        k: int | None = None,
    ) -> list[Document]:
        limit = self._limit(k)
        config: RunnableConfig = {"callbacks": run_manager.get_child()}
        if self.base_retriever is not None:
            candidates = await self.base_retriever.ainvoke(query, config=config)
        else:
            candidates = list(self.documents or [])
        if not candidates:
            return []
        if self.reranker is not None:
            ranked = await self.reranker.acompress_documents(
                candidates, query, callbacks=run_manager.get_child()
            )
            return list(ranked)[:limit]
        texts = [candidate_text(i, doc) for i, doc in enumerate(candidates)]
        answer, _ = (
            await self._spec()
            .bind(config)
            .rlm.arun(self._rank_query(query, len(candidates)), texts)
        )
        return self._pick(candidates, answer, limit)
