"""``ListwiseLLMRerank``: rlm-core's LLM rerankers as a LlamaIndex node postprocessor.

Like ``LLMRerank``, but the model orders small windows of passages
(``[2] > [1] > [3]``) instead of scoring them one batch at a time:
``mode="listwise"`` slides a window from the bottom of the list to the top
(``rlm_core.ListwiseReranker``, pools up to ~200); ``mode="tournament"`` keeps the
best few of each shuffled batch, round after round (``rlm_core.TournamentReranker``,
larger pools). Scores follow the new order: 1.0 for the first node down to ``1/n``.
"""

from __future__ import annotations

from typing import Any, Literal

from llama_index.core.bridge.pydantic import Field, PrivateAttr
from llama_index.core.callbacks import CBEventType, EventPayload
from llama_index.core.instrumentation.events.rerank import ReRankEndEvent, ReRankStartEvent
from llama_index.core.llms import LLM
from llama_index.core.postprocessor.types import BaseNodePostprocessor
from llama_index.core.schema import MetadataMode, NodeWithScore, QueryBundle
from llama_index_instrumentation import get_dispatcher

from rlm_core import ConfigError, ListwiseReranker, TournamentReranker
from rlm_llamaindex.llm import LlamaIndexLLMAdapter, resolve_llm

dispatcher = get_dispatcher(__name__)


class ListwiseLLMRerank(BaseNodePostprocessor):
    """Reorders retrieved nodes with an LLM that ranks windows of passages; keeps ``top_n``."""

    top_n: int = Field(default=5, description="Nodes to keep after reranking.")
    llm: LLM = Field(description="The LLM that ranks the passages.")
    mode: Literal["listwise", "tournament"] = Field(default="listwise")
    window_size: int = Field(default=20, description="Passages per model call (listwise).")
    step: int = Field(default=10, description="How far the window moves up (listwise).")
    batch_size: int = Field(default=20, description="Passages per batch (tournament).")
    top_k_per_batch: int = Field(default=4, description="Winners per batch (tournament).")
    max_passage_chars: int = Field(default=300, description="Characters shown per passage.")

    _reranker: ListwiseReranker | TournamentReranker = PrivateAttr()

    def __init__(self, llm: Any = None, **fields: Any) -> None:
        super().__init__(llm=resolve_llm(llm), **fields)  # type: ignore[call-arg]
        if isinstance(self.top_n, bool) or self.top_n < 1:
            raise ConfigError(f"top_n must be an int >= 1, got {self.top_n!r}")
        adapter = LlamaIndexLLMAdapter(self.llm)
        if self.mode == "listwise":
            self._reranker = ListwiseReranker(
                adapter,
                window_size=self.window_size,
                step=self.step,
                max_passage_chars=self.max_passage_chars,
            )
        else:
            self._reranker = TournamentReranker(
                adapter,
                batch_size=self.batch_size,
                top_k_per_batch=self.top_k_per_batch,
                max_passage_chars=self.max_passage_chars,
            )

    @classmethod
    def class_name(cls) -> str:
        return "ListwiseLLMRerank"

    @property
    def llm_calls(self) -> int:
        """Model calls made so far."""
        return self._reranker.llm_calls

    def _postprocess_nodes(
        self, nodes: list[NodeWithScore], query_bundle: QueryBundle | None = None
    ) -> list[NodeWithScore]:
        if query_bundle is None:
            raise ValueError("ListwiseLLMRerank needs the query: pass query_bundle or query_str")
        if not nodes:
            return []
        dispatcher.event(
            ReRankStartEvent(
                query=query_bundle,
                nodes=nodes,
                top_n=self.top_n,
                model_name=self.llm.metadata.model_name,
            )
        )
        with self.callback_manager.event(
            CBEventType.RERANKING,
            payload={
                EventPayload.NODES: nodes,
                EventPayload.MODEL_NAME: self.llm.metadata.model_name,
                EventPayload.QUERY_STR: query_bundle.query_str,
                EventPayload.TOP_K: self.top_n,
            },
        ) as event:
            candidates = [
                {
                    "doc_id": str(i),
                    "content": hit.node.get_content(metadata_mode=MetadataMode.EMBED),
                }
                for i, hit in enumerate(nodes)
            ]
            ranked = self._reranker.rerank(
                query_bundle.query_str, candidates, top_k=min(self.top_n, len(nodes))
            )
            total = len(ranked)
            result = [
                NodeWithScore(
                    node=nodes[int(c["doc_id"])].node, score=round((total - r) / total, 4)
                )
                for r, c in enumerate(ranked)
            ]
            event.on_end(payload={EventPayload.NODES: result})
        dispatcher.event(ReRankEndEvent(nodes=result))
        return result
