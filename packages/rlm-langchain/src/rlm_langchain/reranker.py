"""``LLMReranker``: rlm-core's LLM rerankers as a LangChain document compressor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from langchain_core.callbacks import Callbacks
from langchain_core.documents import BaseDocumentCompressor, Document
from langchain_core.language_models import BaseChatModel
from pydantic import ConfigDict, Field, model_validator

from rlm_core import ListwiseReranker, TournamentReranker
from rlm_langchain.adapter import ChatModelAdapter, require_chat_model
from rlm_langchain.engine import config_errors_unwrapped
from rlm_langchain.keywords import check_keywords, field_names, with_positional_llm


class LLMReranker(BaseDocumentCompressor):
    """Orders documents by relevance to the query with a chat model; keeps the best ``top_n``.

    ``method="listwise"`` slides a window of ``window_size`` passages from the
    bottom of the list to the top (good up to ~200 documents);
    ``method="tournament"`` keeps the best ``top_k_per_batch`` of each batch of
    ``batch_size``, round after round (for larger pools). Use it as the
    ``base_compressor`` of a ``ContextualCompressionRetriever`` or as
    ``RLMRetriever(reranker=...)``; its model calls are child runs of the caller's.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: BaseChatModel
    """The chat model that ranks the passages."""
    method: Literal["listwise", "tournament"] = "listwise"
    """Sliding windows (``listwise``) or knock-out batches (``tournament``)."""
    top_n: int = Field(default=5, ge=1)
    """How many documents to keep."""
    window_size: int = Field(default=20, ge=2)
    """Passages per model call (listwise)."""
    step: int = Field(default=10, ge=1)
    """How far the window moves each call (listwise); at most ``window_size``."""
    batch_size: int = Field(default=20, ge=2)
    """Passages per batch (tournament)."""
    top_k_per_batch: int = Field(default=4, ge=1)
    """Winners kept from each batch (tournament); fewer than ``batch_size``."""
    max_passage_chars: int = Field(default=300, ge=1)
    """Each passage is cut to this many characters in the prompt."""

    @model_validator(mode="before")
    @classmethod
    def _check_llm(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        check_keywords("LLMReranker", values, field_names(cls.model_fields))
        if "llm" not in values:
            raise ValueError("LLMReranker needs llm=<a LangChain chat model> to rank with")
        require_chat_model(values["llm"], "llm")
        return values

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with config_errors_unwrapped():
            super().__init__(**with_positional_llm("LLMReranker", args, kwargs))

    @model_validator(mode="after")
    def _check_sizes(self) -> LLMReranker:
        self._ranker(ChatModelAdapter(self.llm))  # the core checks step/window and batch sizes
        return self

    def _ranker(self, adapter: ChatModelAdapter) -> ListwiseReranker | TournamentReranker:
        if self.method == "tournament":
            return TournamentReranker(
                adapter,
                batch_size=self.batch_size,
                top_k_per_batch=self.top_k_per_batch,
                max_passage_chars=self.max_passage_chars,
            )
        return ListwiseReranker(
            adapter,
            window_size=self.window_size,
            step=self.step,
            max_passage_chars=self.max_passage_chars,
        )

    def compress_documents(
        self,
        documents: Sequence[Document],
        query: str,
        callbacks: Callbacks | None = None,
    ) -> Sequence[Document]:
        """The ``top_n`` most relevant of ``documents``, best first."""
        if not documents:
            return []
        ranker = self._ranker(ChatModelAdapter(self.llm, config={"callbacks": callbacks}))
        candidates = [
            {"doc_id": str(index), "content": document.page_content}
            for index, document in enumerate(documents)
        ]
        ranked = ranker.rerank(query, candidates, top_k=min(self.top_n, len(documents)))
        return [documents[int(candidate["doc_id"])] for candidate in ranked]
