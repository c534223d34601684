"""``RLMQueryEngine``: a LlamaIndex query engine that answers with a Recursive Language Model."""

from __future__ import annotations

import re
import uuid
from collections.abc import AsyncGenerator, Generator
from typing import Any

from llama_index.core import Settings
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.response.schema import (
    RESPONSE_TYPE,
    AsyncStreamingResponse,
    Response,
    StreamingResponse,
)
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.indices.base import BaseIndex
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.schema import NodeWithScore, QueryBundle

from rlm_core import RLM, ConfigError
from rlm_llamaindex.prompts import SYSTEM_PROMPT, system_prompt_of, update_system_prompt
from rlm_llamaindex.retriever_adapter import LlamaIndexRetrieverAdapter
from rlm_llamaindex.runner import RLMRunner, RunResult

_WORD_BOUNDARY = re.compile(r"(?<=\s)(?=\S)")


def _pieces(text: str) -> list[str]:
    """``text`` cut before each word, so the pieces join back to exactly ``text``."""
    return [piece for piece in _WORD_BOUNDARY.split(text) if piece]


class RLMQueryEngine(BaseQueryEngine):
    """Answers queries by letting a root model search the documents from a Python REPL.

    ``documents`` (Documents, nodes or strings) become the REPL's context ``P``;
    a ``retriever`` becomes its document index (``es_search`` / ``es_get``).
    ``llm`` drives the root loop (default ``Settings.llm``), ``sub_llm`` the
    sub-calls (default ``llm``). Other keyword arguments go to ``rlm_core.RLM``
    (``policy``, ``max_output_tokens``, ``parallel_subcalls``, ...).
    """

    def __init__(
        self,
        llm: Any = None,
        sub_llm: Any = None,
        retriever: Any = None,
        documents: Any = None,
        streaming: bool = False,
        callback_manager: CallbackManager | None = None,
        **rlm_options: Any,
    ) -> None:
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise ConfigError(
                f"callback_manager must be a LlamaIndex CallbackManager, "
                f"got {type(callback_manager).__name__}"
            )
        self._runner = RLMRunner(
            llm, sub_llm, documents=documents, retriever=retriever, **rlm_options
        )
        self.streaming = bool(streaming)
        super().__init__(callback_manager=callback_manager or Settings.callback_manager)

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def from_documents(cls, documents: Any, llm: Any = None, **kwargs: Any) -> RLMQueryEngine:
        """An engine whose context is ``documents`` (Documents, nodes or strings)."""
        return cls(llm=llm, documents=documents, **kwargs)

    @classmethod
    def from_index(
        cls, index: BaseIndex[Any], llm: Any = None, similarity_top_k: int = 10, **kwargs: Any
    ) -> RLMQueryEngine:
        """An engine that searches ``index`` through its retriever and reads whole nodes
        from its docstore (``es_search`` / ``es_get`` in the REPL)."""
        if not isinstance(index, BaseIndex):
            raise ConfigError(
                f"from_index expects a LlamaIndex index (e.g. VectorStoreIndex), got "
                f"{type(index).__name__}; for documents use RLMQueryEngine.from_documents"
            )
        retriever = LlamaIndexRetrieverAdapter(
            index.as_retriever(similarity_top_k=similarity_top_k), docstore=index.docstore
        )
        return cls(llm=llm, retriever=retriever, **kwargs)

    # -- PromptMixin -----------------------------------------------------------------------------
    def _get_prompts(self) -> PromptDictType:
        """``system_prompt``: the root model's system prompt (``{helpers}`` is filled in)."""
        return {SYSTEM_PROMPT: system_prompt_of(self._runner)}

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        update_system_prompt(self._runner, prompts)

    # -- querying --------------------------------------------------------------------------------
    def _prepare(self, parent_event: str | None) -> tuple[RLM, Any]:
        return self._runner.prepare(
            instance=self, callback_manager=self.callback_manager, parent_event=parent_event
        )

    def _response(self, result: RunResult) -> Response:
        return Response(result.answer, source_nodes=result.source_nodes, metadata=result.metadata)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        event_id = str(uuid.uuid4())
        with self.callback_manager.event(
            CBEventType.QUERY,
            payload={EventPayload.QUERY_STR: query_bundle.query_str},
            event_id=event_id,
        ) as query_event:
            rlm, retriever = self._prepare(event_id)
            response: RESPONSE_TYPE
            if self.streaming:
                response = self._stream(rlm, retriever, query_bundle.query_str)
            else:
                answer, trace = rlm.run(query_bundle.query_str, self._runner.context)
                response = self._response(self._runner.result(answer, trace, retriever))
            query_event.on_end(payload={EventPayload.RESPONSE: response})
        return response

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        event_id = str(uuid.uuid4())
        with self.callback_manager.event(
            CBEventType.QUERY,
            payload={EventPayload.QUERY_STR: query_bundle.query_str},
            event_id=event_id,
        ) as query_event:
            rlm, retriever = self._prepare(event_id)
            response: RESPONSE_TYPE
            if self.streaming:
                response = self._astream(rlm, retriever, query_bundle.query_str)
            else:
                answer, trace = await rlm.arun(query_bundle.query_str, self._runner.context)
                response = self._response(self._runner.result(answer, trace, retriever))
            query_event.on_end(payload={EventPayload.RESPONSE: response})
        return response

    # -- streaming -------------------------------------------------------------------------------
    def _stream(self, rlm: RLM, retriever: Any, query: str) -> StreamingResponse:
        """The run starts when the stream is first read; ``source_nodes`` and ``metadata``
        are filled in once the answer is known."""
        sources: list[NodeWithScore] = []
        metadata: dict[str, Any] = {}

        def generate() -> Generator[str, None, None]:
            answer, trace = rlm.run(query, self._runner.context)
            result = self._runner.result(answer, trace, retriever)
            sources.extend(result.source_nodes)
            metadata.update(result.metadata)
            yield from _pieces(answer)

        return StreamingResponse(response_gen=generate(), source_nodes=sources, metadata=metadata)

    def _astream(self, rlm: RLM, retriever: Any, query: str) -> AsyncStreamingResponse:
        """Async ``_stream``: the run is awaited with ``RLM.arun`` when the stream is read."""
        sources: list[NodeWithScore] = []
        metadata: dict[str, Any] = {}

        async def generate() -> AsyncGenerator[str, None]:
            answer, trace = await rlm.arun(query, self._runner.context)
            result = self._runner.result(answer, trace, retriever)
            sources.extend(result.source_nodes)
            metadata.update(result.metadata)
            for piece in _pieces(answer):
                yield piece

        return AsyncStreamingResponse(
            response_gen=generate(), source_nodes=sources, metadata=metadata
        )

    def __repr__(self) -> str:
        return (
            f"RLMQueryEngine(llm={self._runner.adapter.model_id!r}, "
            f"documents={len(self._runner.nodes)}, retriever={self._runner.retriever!r})"
        )
