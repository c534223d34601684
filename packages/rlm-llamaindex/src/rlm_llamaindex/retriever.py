"""``RLMRetriever``: candidate nodes chosen and ordered by an RLM run."""

from __future__ import annotations

import warnings
from typing import Any

from llama_index.core import Settings
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.prompts import PromptTemplate
from llama_index.core.prompts.mixin import PromptDictType
from llama_index.core.schema import BaseNode, MetadataMode, NodeWithScore, QueryBundle

from rlm_core import ConfigError, Context, ContextError
from rlm_llamaindex.prompts import (
    SYSTEM_PROMPT,
    system_prompt_of,
    template_text,
    update_system_prompt,
)
from rlm_llamaindex.runner import RLMRunner, coerce_documents
from rlm_llamaindex.selection import parse_selection

SELECT_QUERY = (
    "The context P holds {count} numbered passages, each starting with a line '[passage N]'. "
    "Find the passages relevant to this question: {query}\n"
    "Answer with the numbers of the relevant passages, most relevant first, "
    "e.g. FINAL: [3, 1]. Answer FINAL: [] if none is relevant."
)

SELECT_PROMPT = "select_prompt"

__all__ = ["SELECT_QUERY", "RLMRetriever", "parse_selection"]


class RLMRetriever(BaseRetriever):
    """Retrieves candidates (from ``retriever`` or the given ``nodes``), then lets an RLM
    read them and pick the relevant ones, best first, keeping at most ``similarity_top_k``.

    Scores follow the RLM's order: the first pick scores 1.0, the last ``1/k``.
    """

    def __init__(
        self,
        llm: Any = None,
        sub_llm: Any = None,
        retriever: BaseRetriever | None = None,
        nodes: Any = None,
        similarity_top_k: int | None = None,
        callback_manager: CallbackManager | None = None,
        top_k: int | None = None,
        **rlm_options: Any,
    ) -> None:
        if top_k is not None:
            if similarity_top_k is not None:
                raise ConfigError("pass similarity_top_k=... only (top_k is its old name)")
            warnings.warn(
                "RLMRetriever(top_k=...) is renamed similarity_top_k=...",
                DeprecationWarning,
                stacklevel=2,
            )
            similarity_top_k = top_k
        if (retriever is None) == (nodes is None):
            raise ConfigError(
                "RLMRetriever needs exactly one source of candidates: retriever=... "
                "(e.g. index.as_retriever(similarity_top_k=20)) or nodes=[...]"
            )
        if retriever is not None and not isinstance(retriever, BaseRetriever):
            raise ConfigError(
                f"retriever must be a LlamaIndex BaseRetriever, got {type(retriever).__name__}"
            )
        if similarity_top_k is not None and (
            isinstance(similarity_top_k, bool)
            or not isinstance(similarity_top_k, int)
            or similarity_top_k < 1
        ):
            raise ConfigError(
                f"similarity_top_k must be None or an int >= 1, got {similarity_top_k!r}"
            )
        self._base = retriever
        self._nodes = coerce_documents(nodes, name="nodes") if nodes is not None else None
        self._runner = RLMRunner(llm, sub_llm, require_source=False, **rlm_options)
        self.similarity_top_k = similarity_top_k
        self._select_query = SELECT_QUERY
        super().__init__(callback_manager=callback_manager or Settings.callback_manager)

    # -- PromptMixin -----------------------------------------------------------------------------
    def _get_prompts(self) -> PromptDictType:
        """``system_prompt`` of the RLM and ``select_prompt``, the question the run answers
        (``{count}`` candidates, the user's ``{query}``)."""
        return {
            SYSTEM_PROMPT: system_prompt_of(self._runner),
            SELECT_PROMPT: PromptTemplate(self._select_query),
        }

    def _update_prompts(self, prompts: PromptDictType) -> None:
        update_system_prompt(self._runner, prompts)
        if SELECT_PROMPT in prompts:
            self._select_query = template_text(SELECT_PROMPT, prompts[SELECT_PROMPT])

    # -- candidates and selection ---------------------------------------------------------------
    def _candidates(self, found: list[NodeWithScore] | None) -> list[BaseNode]:
        if found is None:
            assert self._nodes is not None
            return self._nodes
        return [hit.node for hit in found]

    @staticmethod
    def _context(candidates: list[BaseNode]) -> Context:
        return Context.from_documents(
            [
                f"[passage {number}]\n{node.get_content(metadata_mode=MetadataMode.NONE)}"
                for number, node in enumerate(candidates, start=1)
            ]
        )

    def _select(self, answer: str, candidates: list[BaseNode]) -> list[NodeWithScore]:
        chosen = parse_selection(answer, len(candidates))
        if self.similarity_top_k is not None:
            chosen = chosen[: self.similarity_top_k]
        total = len(chosen)
        return [
            NodeWithScore(node=candidates[index], score=round((total - rank) / total, 4))
            for rank, index in enumerate(chosen)
        ]

    def _query_text(self, query_bundle: QueryBundle, count: int) -> str:
        if not query_bundle.query_str.strip():
            raise ContextError("the query is empty: pass a question to retrieve for")
        return PromptTemplate(self._select_query).format(count=count, query=query_bundle.query_str)

    # -- BaseRetriever ---------------------------------------------------------------------------
    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = self._base.retrieve(query_bundle) if self._base is not None else None
        candidates = self._candidates(found)
        if not candidates:
            return []
        rlm, _ = self._runner.prepare(
            instance=self, callback_manager=self.callback_manager, parent_event=None
        )
        answer, _trace = rlm.run(
            self._query_text(query_bundle, len(candidates)), self._context(candidates)
        )
        return self._select(answer, candidates)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        found = await self._base.aretrieve(query_bundle) if self._base is not None else None
        candidates = self._candidates(found)
        if not candidates:
            return []
        rlm, _ = self._runner.prepare(
            instance=self, callback_manager=self.callback_manager, parent_event=None
        )
        answer, _trace = await rlm.arun(
            self._query_text(query_bundle, len(candidates)), self._context(candidates)
        )
        return self._select(answer, candidates)
