"""``RLMQueryEngine``: a LlamaIndex query engine that answers with a Recursive Language Model."""

from __future__ import annotations

import uuid
from typing import Any

from llama_index.core import Settings
from llama_index.core.base.base_query_engine import BaseQueryEngine
from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.base.response.schema import RESPONSE_TYPE, PydanticResponse, Response
from llama_index.core.callbacks import CallbackManager, CBEventType, EventPayload
from llama_index.core.indices.base import BaseIndex
from llama_index.core.prompts.mixin import PromptDictType, PromptMixinType
from llama_index.core.schema import QueryBundle, QueryType
from llama_index_instrumentation.dispatcher import DISPATCHER_SPAN_DECORATED_ATTR
from pydantic import BaseModel

from rlm_core import ConfigError
from rlm_llamaindex.prompts import SYSTEM_PROMPT, system_prompt_of, update_system_prompt
from rlm_llamaindex.retriever_adapter import LlamaIndexRetrieverAdapter
from rlm_llamaindex.runner import RLMRunner, RunResult
from rlm_llamaindex.streaming import stream_async, stream_sync


def _bundle(query: QueryType) -> QueryBundle:
    return QueryBundle(query) if isinstance(query, str) else query


def _check_top_k(similarity_top_k: Any) -> int:
    if isinstance(similarity_top_k, bool) or not isinstance(similarity_top_k, int):
        raise ConfigError(
            f"similarity_top_k must be an int >= 1 (hits per search), got {similarity_top_k!r}"
        )
    if similarity_top_k < 1:
        raise ConfigError(
            f"similarity_top_k must be >= 1 (hits per search), got {similarity_top_k}"
        )
    return similarity_top_k


def _index_adapter(index: BaseIndex[Any], top_k: int) -> LlamaIndexRetrieverAdapter:
    return LlamaIndexRetrieverAdapter(
        index.as_retriever(similarity_top_k=top_k), docstore=index.docstore, default_top_k=top_k
    )


class RLMQueryEngine(BaseQueryEngine):
    """Answers queries by letting a root model search the documents from a Python REPL.

    ``documents`` (Documents, nodes or strings) become the REPL's context ``P``;
    a ``retriever`` becomes its document index (``es_search`` / ``es_get``).
    ``llm`` drives the root loop (default ``Settings.llm``), ``sub_llm`` the
    sub-calls (default ``llm``). With ``output_cls`` (a pydantic model class) the
    answer is validated against it by the run itself and the query returns a
    ``PydanticResponse`` whose ``response`` is the object (``str()`` gives its JSON), as
    LlamaIndex's engines do. Other keyword arguments go to ``rlm_core.RLM``
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
        output_cls: type[BaseModel] | None = None,
        **rlm_options: Any,
    ) -> None:
        if output_cls is not None and not (
            isinstance(output_cls, type) and issubclass(output_cls, BaseModel)
        ):
            raise ConfigError(
                f"output_cls must be a pydantic model class (a BaseModel subclass), got "
                f"{output_cls!r:.80}"
            )
        if not isinstance(streaming, bool):
            raise ConfigError(f"streaming must be True or False, got {streaming!r:.80}")
        if output_cls is not None and streaming:
            raise ConfigError(
                "output_cls and streaming=True cannot be combined: a structured answer is "
                "validated when the run ends; query without streaming"
            )
        if callback_manager is not None and not isinstance(callback_manager, CallbackManager):
            raise ConfigError(
                f"callback_manager must be a LlamaIndex CallbackManager, "
                f"got {type(callback_manager).__name__}"
            )
        self._runner = RLMRunner(
            llm, sub_llm, documents=documents, retriever=retriever, **rlm_options
        )
        self.streaming = streaming
        self.output_cls = output_cls
        super().__init__(callback_manager=callback_manager or Settings.callback_manager)

    # -- construction helpers -------------------------------------------------------------------
    @classmethod
    def from_documents(cls, documents: Any, llm: Any = None, **kwargs: Any) -> RLMQueryEngine:
        """An engine whose context is ``documents`` (Documents, nodes or strings)."""
        return cls(llm=llm, documents=documents, **kwargs)

    @classmethod
    def from_defaults(
        cls,
        llm: Any = None,
        sub_llm: Any = None,
        documents: Any = None,
        index: BaseIndex[Any] | None = None,
        retriever: Any = None,
        similarity_top_k: int = 10,
        streaming: bool = False,
        callback_manager: CallbackManager | None = None,
        output_cls: type[BaseModel] | None = None,
        **rlm_options: Any,
    ) -> RLMQueryEngine:
        """An engine over ``documents`` (the REPL's text ``P``) and/or a search source:
        ``index`` (searched through its retriever, whole nodes read from its docstore) or any
        ``retriever``. ``similarity_top_k`` is how many hits a search from the REPL returns
        when the model does not pass ``top_k``. ``llm`` defaults to ``Settings.llm``;
        ``output_cls`` makes answers validated pydantic objects; other keywords are
        ``rlm_core.RLM`` options."""
        top_k = _check_top_k(similarity_top_k)
        if index is not None and retriever is not None:
            raise ConfigError("pass index=... or retriever=..., not both")
        if index is not None:
            if not isinstance(index, BaseIndex):
                raise ConfigError(
                    f"index must be a LlamaIndex index (e.g. VectorStoreIndex), got "
                    f"{type(index).__name__}; pass documents=[...] for documents"
                )
            retriever = _index_adapter(index, top_k)
        elif isinstance(retriever, BaseRetriever):
            retriever = LlamaIndexRetrieverAdapter(retriever, default_top_k=top_k)
        return cls(
            llm=llm,
            sub_llm=sub_llm,
            retriever=retriever,
            documents=documents,
            streaming=streaming,
            callback_manager=callback_manager,
            output_cls=output_cls,
            **rlm_options,
        )

    @classmethod
    def from_index(
        cls, index: BaseIndex[Any], llm: Any = None, similarity_top_k: int = 10, **kwargs: Any
    ) -> RLMQueryEngine:
        """An engine that searches ``index`` through its retriever and reads whole nodes
        from its docstore (``es_search`` / ``es_get`` in the REPL); a search returns
        ``similarity_top_k`` hits when the model does not pass ``top_k``."""
        top_k = _check_top_k(similarity_top_k)
        if not isinstance(index, BaseIndex):
            raise ConfigError(
                f"from_index expects a LlamaIndex index (e.g. VectorStoreIndex), got "
                f"{type(index).__name__}; for documents use RLMQueryEngine.from_documents"
            )
        return cls(llm=llm, retriever=_index_adapter(index, top_k), **kwargs)

    # -- PromptMixin -----------------------------------------------------------------------------
    def _get_prompts(self) -> PromptDictType:
        """``system_prompt``: the root model's system prompt (``{helpers}`` is filled in)."""
        return {SYSTEM_PROMPT: system_prompt_of(self._runner)}

    def _get_prompt_modules(self) -> PromptMixinType:
        return {}

    def _update_prompts(self, prompts: PromptDictType) -> None:
        update_system_prompt(self._runner, prompts)

    # -- querying --------------------------------------------------------------------------------
    def query(self, str_or_query_bundle: QueryType) -> RESPONSE_TYPE:
        """Answer a query; with ``streaming=True`` a ``StreamingResponse`` returned as soon as
        the run has started."""
        if not self.streaming:
            return super().query(str_or_query_bundle)
        return stream_sync(self, _bundle(str_or_query_bundle), self._run)

    async def aquery(self, str_or_query_bundle: QueryType) -> RESPONSE_TYPE:
        """Async ``query``; with ``streaming=True`` an ``AsyncStreamingResponse``."""
        if not self.streaming:
            return await super().aquery(str_or_query_bundle)
        return await stream_async(self, _bundle(str_or_query_bundle), self._arun, self._run)

    # ``query`` / ``aquery`` open their own spans when streaming (closed when the run ends)
    # and delegate to the base class's spanned methods otherwise.
    setattr(query, DISPATCHER_SPAN_DECORATED_ATTR, True)
    setattr(aquery, DISPATCHER_SPAN_DECORATED_ATTR, True)

    def _query(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return self._response(self._run(query_bundle, []))

    async def _aquery(self, query_bundle: QueryBundle) -> RESPONSE_TYPE:
        return self._response(await self._arun(query_bundle, []))

    def _response(self, result: RunResult) -> Response | PydanticResponse:
        if self.output_cls is not None:
            return PydanticResponse(
                result.output, source_nodes=result.source_nodes, metadata=result.metadata
            )
        return Response(result.answer, source_nodes=result.source_nodes, metadata=result.metadata)

    def _result(self, answer: Any, trace: Any, retriever: Any) -> RunResult:
        if self.output_cls is None:
            return self._runner.result(answer, trace, retriever)
        return self._runner.result(trace.answer or "", trace, retriever, output=answer)

    def _run(self, query_bundle: QueryBundle, listeners: list[Any]) -> RunResult:
        event_id = str(uuid.uuid4())
        with (
            self.callback_manager.as_trace("query"),
            self._query_event(query_bundle, event_id) as event,
        ):
            rlm, retriever = self._runner.prepare(
                instance=self,
                callback_manager=self.callback_manager,
                parent_event=event_id,
                listeners=listeners,
            )
            answer, trace = rlm.run(
                query_bundle.query_str, self._runner.context, output_type=self.output_cls
            )
            result = self._result(answer, trace, retriever)
            event.on_end(payload={EventPayload.RESPONSE: result.answer})
        return result

    async def _arun(self, query_bundle: QueryBundle, listeners: list[Any]) -> RunResult:
        event_id = str(uuid.uuid4())
        with (
            self.callback_manager.as_trace("query"),
            self._query_event(query_bundle, event_id) as event,
        ):
            rlm, retriever = self._runner.prepare(
                instance=self,
                callback_manager=self.callback_manager,
                parent_event=event_id,
                listeners=listeners,
            )
            answer, trace = await rlm.arun(
                query_bundle.query_str, self._runner.context, output_type=self.output_cls
            )
            result = self._result(answer, trace, retriever)
            event.on_end(payload={EventPayload.RESPONSE: result.answer})
        return result

    def _query_event(self, query_bundle: QueryBundle, event_id: str) -> Any:
        return self.callback_manager.event(
            CBEventType.QUERY,
            payload={EventPayload.QUERY_STR: query_bundle.query_str},
            event_id=event_id,
        )

    def __repr__(self) -> str:
        return (
            f"RLMQueryEngine(llm={self._runner.adapter.model_id!r}, "
            f"documents={len(self._runner.nodes)}, retriever={self._runner.retriever!r})"
        )
