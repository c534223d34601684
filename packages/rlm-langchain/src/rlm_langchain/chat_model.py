"""``ChatRLM``: a Recursive Language Model wherever LangChain expects a chat model."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from typing import Any, cast
from uuid import UUID

from langchain_core.callbacks import AsyncCallbackManagerForLLMRun, CallbackManagerForLLMRun
from langchain_core.globals import get_llm_cache
from langchain_core.language_models import BaseChatModel, LanguageModelInput
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage
from langchain_core.outputs import ChatGenerationChunk, ChatResult
from langchain_core.runnables import Runnable, RunnableConfig
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlm_core import AnswerText, Event, Trace
from rlm_langchain.adapter import model_name_of, require_chat_model
from rlm_langchain.chat_reply import answer_piece, chat_result, last_chunk, reply_message
from rlm_langchain.conversation import split_conversation
from rlm_langchain.engine import (
    BoundEngine,
    EngineSpec,
    check_rlm_options,
    config_errors_unwrapped,
    resolve_retriever,
    run_end_of,
)
from rlm_langchain.fingerprint import (
    context_fingerprint,
    model_fingerprint,
    options_fingerprint,
    retriever_fingerprint,
)
from rlm_langchain.inputs import NOTHING_FOUND, coerce_context, is_empty
from rlm_langchain.keywords import collect_rlm_options, field_names, with_positional_llm
from rlm_langchain.llm_cache import uses_llm_cache
from rlm_langchain.model_errors import araising_model_errors, raising_model_errors
from rlm_langchain.progress import dispatch_event
from rlm_langchain.run_stream import (
    ChunkShaper,
    astream_run,
    child_config,
    stream_run,
    streaming_allowed,
)
from rlm_langchain.sessions import (
    Conversation,
    RLMSessions,
    conversation_id_of,
    with_conversation_metadata,
)
from rlm_langchain.tool_calls import NO_TOOL, normalise_tool_choice, reply_model

_NOT_RLM_OPTIONS = frozenset({"stream", "tools", "tool_choice", "parallel_tool_calls", "strict"})
UNUSED_STANDARD_PARAMETERS = frozenset(
    {"timeout", "max_retries", "api_key", "base_url", "streaming"}
)
"""LangChain's standard parameters that mean nothing here, accepted so generic code can
build a ``ChatRLM``: it sends no request itself (the wrapped models keep their own client
settings) and ``invoke`` always sends the answer's tokens to streaming callbacks."""


def query_of(messages: list[BaseMessage]) -> str:
    """The last user message's text (the RLM's query)."""
    return split_conversation(messages, who="ChatRLM")[0]


class ChatRLM(BaseChatModel):
    """A chat model whose every reply is an RLM run over a configured context or retriever.

    The last user message is the query; system messages are added to the root
    model's system prompt and earlier turns are replayed to it as turns.
    ``llm`` writes the code, ``sub_llm`` answers sub-calls, and the data comes
    from ``context`` (str, list of str or Documents) and/or ``retriever``.
    ``max_tokens`` caps each root step (``RLM(max_output_tokens)``); ``stop``
    cuts the answer. Other keywords are RLM options (LangChain's standard
    ``timeout``, ``max_retries``, ``api_key``, ``base_url`` and ``streaming`` are
    accepted and unused: set client settings on the wrapped models). Keyword
    arguments of ``invoke`` / ``bind`` are RLM options for that call. Engine events
    are sent as ``rlm.<type>`` custom events of this run, and every model and
    retriever call is a child run of it.

    Token usage: the inner model calls report their own usage, so the reply's
    ``usage_metadata`` is left empty (no double counting); the run's total is in
    ``response_metadata["rlm_usage"]``.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, populate_by_name=True)

    llm: BaseChatModel
    """The root model that writes code."""
    sub_llm: BaseChatModel | None = None
    """The model of sub-calls; defaults to ``llm``."""
    retriever: Any = None
    """A ``BaseRetriever`` (or rlm-core retriever) searchable from the REPL."""
    context: Any = None
    """The text to search: a str, a list of str or a list of Document."""
    rlm_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options of ``rlm_core.RLM`` (a dict or an ``RLMOptions``; ``options=`` too)."""
    model_name: str = Field(default="", alias="model")
    """The name reported in traces; defaults to ``rlm:<root model name>``."""
    temperature: float | None = None
    """Reported in traces only: the wrapped models keep their own temperature."""
    max_tokens: int | None = None
    """Token limit of each root step (``RLM(max_output_tokens=...)``)."""
    stop: list[str] | None = None
    """Stop sequences: the answer is cut at the first one."""
    sessions: RLMSessions | None = Field(default=None, exclude=True)
    """Keep one rlm-core session (REPL) per conversation, named by the run's
    ``configurable`` ``session_id`` / ``thread_id``; see ``RLMSessions``."""

    @model_validator(mode="before")
    @classmethod
    def _check_inputs(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = {
            key: value for key, value in values.items() if key not in UNUSED_STANDARD_PARAMETERS
        }
        values = collect_rlm_options("ChatRLM", values, field_names(cls.model_fields))
        if "llm" not in values:
            raise ValueError("ChatRLM needs llm=<a LangChain chat model> as its root model")
        require_chat_model(values["llm"], "llm")
        if values.get("sub_llm") is not None:
            require_chat_model(values["sub_llm"], "sub_llm")
        resolve_retriever(values.get("retriever"))
        if values.get("context") is not None:
            coerce_context(values["context"])
        elif values.get("retriever") is None:
            raise ValueError("ChatRLM needs data to search: pass context=... and/or retriever=...")
        return values

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with config_errors_unwrapped():
            super().__init__(**with_positional_llm("ChatRLM", args, kwargs))

    @model_validator(mode="after")
    def _check_engine(self) -> ChatRLM:
        if not self.model_name:
            self.model_name = f"rlm:{model_name_of(self.llm)}"
        self._spec().validate()
        return self

    @property
    def _llm_type(self) -> str:
        return "rlm"

    @property
    def _identifying_params(self) -> dict[str, Any]:
        """Everything that changes an answer, as short hashes (also the LLM-cache key)."""
        return {
            "model_name": self.model_name,
            "root_model": model_name_of(self.llm),
            "sub_model": None if self.sub_llm is None else model_name_of(self.sub_llm),
            "root_model_params": model_fingerprint(self.llm),
            "sub_model_params": model_fingerprint(self.sub_llm),
            "context_sha256": context_fingerprint(self.context),
            "retriever": retriever_fingerprint(self.retriever),
            "rlm_options": options_fingerprint(self._spec().options),
            "sessions": self.sessions is not None,
        }

    def _should_stream(self, *, async_api: bool, **kwargs: Any) -> bool:
        """Never let LangChain's hidden streaming path call ``_stream`` without a run manager.

        ``invoke`` under a streaming callback (``astream_events``, LangGraph's messages
        mode) then runs ``_generate``, which has the run manager and sends the answer
        as this run's tokens when LangChain would stream (``streaming_allowed``, so not
        under ``disable_streaming``); ``stream`` / ``astream`` are overridden for the
        same reason.
        """
        return False

    def _generate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        """``BaseChatModel``'s, without the LLM cache for runs it cannot key (``llm_cache``)."""
        model = self._as_cached(run_manager)
        return BaseChatModel._generate_with_cache(model, messages, stop, run_manager, **kwargs)

    async def _agenerate_with_cache(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        model = self._as_cached(run_manager)
        return await BaseChatModel._agenerate_with_cache(
            model, messages, stop, run_manager, **kwargs
        )

    def _as_cached(self, run_manager: Any) -> ChatRLM:
        """This model, or a copy with ``cache=False`` for a run the LLM cache must skip."""
        if self.cache is None and get_llm_cache() is None:
            return self  # no cache to skip: no copy on every call
        metadata = None if run_manager is None else run_manager.inheritable_metadata
        if self.cache is False or uses_llm_cache(
            self.cache, sessions=self.sessions, retriever=self.retriever, run_metadata=metadata
        ):
            return self
        return self.model_copy(update={"cache": False})

    def _spec(self, call_options: dict[str, Any] | None = None) -> EngineSpec:
        options = dict(self.rlm_options)
        if self.max_tokens is not None:
            options.setdefault("max_output_tokens", self.max_tokens)
        spec = EngineSpec(self.llm, self.sub_llm, self.retriever, options)
        if call_options:
            spec = dataclasses.replace(spec, options={**options, **call_options})
        return spec

    @staticmethod
    def _call_options(kwargs: dict[str, Any]) -> dict[str, Any]:
        """Keyword arguments of one call as RLM options (``max_tokens`` caps root steps)."""
        options = {
            key: value
            for key, value in kwargs.items()
            if key not in _NOT_RLM_OPTIONS and not key.startswith("ls_")
        }
        if "max_tokens" in options:
            options["max_output_tokens"] = options.pop("max_tokens")
        return check_rlm_options(options)

    def _context(self) -> str | list[str] | None:
        return None if self.context is None else coerce_context(self.context)[0]

    def _nothing_to_search(self) -> bool:
        return self.retriever is None and is_empty(self._context())

    def _bind(
        self,
        messages: list[BaseMessage],
        run_manager: Any,
        kwargs: dict[str, Any],
        *,
        listen: bool = False,
    ) -> tuple[str, BoundEngine]:
        """The query and this run's engine; ``listen`` sends its events as custom events
        (``events``/``aevents`` send them themselves)."""
        query, preamble = split_conversation(messages, who="ChatRLM")
        config: RunnableConfig | None = None if run_manager is None else child_config(run_manager)
        spec = self._spec(self._call_options(kwargs))
        listener = None
        if listen and config is not None:
            turn_config = config

            def listener(event: Event) -> None:
                dispatch_event(event, turn_config)

        return query, spec.bind(config, listener, preamble=preamble)

    def bind_tools(
        self,
        tools: Sequence[dict[str, Any] | type | Callable[..., Any] | BaseTool],
        *,
        tool_choice: Any = None,
        strict: bool | None = None,
        parallel_tool_calls: bool | None = None,
        **kwargs: Any,
    ) -> Runnable[LanguageModelInput, AIMessage]:
        """The RLM with ``tools``: its answer may be tool calls (``AIMessage.tool_calls``).

        ``tool_choice``: ``None``/``"auto"`` (the RLM decides; a plain-text answer has
        no calls), ``"any"``/``"required"`` (at least one call), a tool name, or
        ``"none"`` (no calls: a plain run). The calls are validated by rlm-core's
        structured answers (unknown tools or missing arguments get one repair turn);
        ``strict=True`` also refuses arguments a tool does not declare, and
        ``parallel_tool_calls=False`` keeps only the first call of a reply.
        ``with_structured_output`` is built on this.
        """
        formatted = [convert_to_openai_tool(tool, strict=strict) for tool in tools]
        choice = normalise_tool_choice(tool_choice)
        one_call = parallel_tool_calls is False
        reply_model(formatted, choice, one_call=one_call)  # a bad tool_choice fails here
        if parallel_tool_calls is not None:
            kwargs["parallel_tool_calls"] = parallel_tool_calls
        return self.bind(tools=formatted, tool_choice=choice, **kwargs)

    @staticmethod
    def _output_type(kwargs: dict[str, Any]) -> type[BaseModel] | None:
        tools = kwargs.get("tools")
        choice = normalise_tool_choice(kwargs.get("tool_choice"))
        if not tools or choice == NO_TOOL:
            return None
        return reply_model(tools, choice, one_call=kwargs.get("parallel_tool_calls") is False)

    def _conversation(self, run_manager: Any, kwargs: dict[str, Any]) -> Conversation | None:
        """The conversation this run continues, when ``sessions`` is set and the run's
        config names one (LangChain copies ``configurable`` ids into the run's metadata)."""
        if self.sessions is None or run_manager is None:
            return None
        conversation_id = conversation_id_of(run_manager.inheritable_metadata)
        if conversation_id is None:
            return None
        spec = self._spec(self._call_options(kwargs))
        return self.sessions.conversation(conversation_id, spec)

    def _answer_text(self, stop: list[str] | None) -> AnswerText | None:
        """Tracks the answer streamed while the run goes on; ``None`` (the answer comes
        whole at the end) when stop sequences must cut it."""
        return None if stop or self.stop else AnswerText()

    def _chunk(
        self,
        answer: Any,
        trace: Trace,
        stop: list[str] | None,
        run_manager: Any,
        streamed: AnswerText | None = None,
    ) -> ChatGenerationChunk:
        """The run's last chunk: the answer (or what was not streamed of it) and metadata."""
        run_id = _run_id(run_manager)
        message = reply_message(answer, trace, self.model_name, stop or self.stop, run_id)
        return last_chunk(message, streamed)

    def _token_shaper(
        self, run_manager: Any, kwargs: dict[str, Any], *, async_api: bool = False
    ) -> ChunkShaper | None:
        """How ``invoke`` sends the answer as this run's tokens, or ``None`` when it sends
        none: no run manager, or streaming off for the call (``disable_streaming``,
        ``stream=False``), as in ``BaseChatModel``'s invoke."""
        if run_manager is None:
            return None
        if not streaming_allowed(self, async_api=async_api, **{"stream": True, **kwargs}):
            return None
        return ChunkShaper(self, run_manager.run_id)

    # -- sync -------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        shape = self._token_shaper(run_manager, kwargs)
        chunk: ChatGenerationChunk | None = None
        for piece in self._stream(messages, stop, run_manager, **kwargs):
            if shape is not None and run_manager is not None:
                token = shape(piece)
                run_manager.on_llm_new_token(token.message.text, chunk=token)
            chunk = piece if chunk is None else chunk + piece
        return chat_result(chunk)

    def invoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """``BaseChatModel.invoke``, with the conversation id (``sessions``) kept for the run."""
        return super().invoke(input, with_conversation_metadata(config), stop=stop, **kwargs)

    async def ainvoke(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AIMessage:
        """Async ``invoke``."""
        config = with_conversation_metadata(config)
        return await super().ainvoke(input, config, stop=stop, **kwargs)

    def stream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> Iterator[AIMessageChunk]:
        """Stream the answer as this run's chunks; inner calls are child runs of it. With
        streaming off (``disable_streaming``) the whole reply comes as one ``invoke``."""
        if not streaming_allowed(self, async_api=False, **{**kwargs, "stream": True}):
            yield cast("AIMessageChunk", self.invoke(input, config, stop=stop, **kwargs))
            return
        yield from stream_run(self, input, with_conversation_metadata(config), stop, kwargs)

    @raising_model_errors
    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        if self._nothing_to_search():
            yield self._chunk(NOTHING_FOUND, Trace(), stop, run_manager)
            return
        output_type = self._output_type(kwargs)
        conversation = self._conversation(run_manager, kwargs)
        if conversation is not None:
            query, preamble = split_conversation(messages, who="ChatRLM")
            config = None if run_manager is None else child_config(run_manager)
            if output_type is not None:
                answer, trace = conversation.run(
                    query, self._context(), config, preamble, output_type=output_type
                )
                yield self._chunk(answer, trace, stop, run_manager)
                return
            events = conversation.events(query, self._context(), config, preamble)
        elif output_type is not None:
            query, bound = self._bind(messages, run_manager, kwargs, listen=True)
            reply, trace = bound.rlm.run(query, self._context(), output_type=output_type)
            yield self._chunk(reply, trace, stop, run_manager)
            return
        else:
            query, bound = self._bind(messages, run_manager, kwargs)
            events = bound.events(query, self._context())
        streamed = self._answer_text(stop)
        for event in events:
            piece = answer_piece(event, streamed, _run_id(run_manager))
            if piece is not None:
                yield piece
            end = run_end_of(event)
            if end is not None:
                yield self._chunk(end[0], end[1], stop, run_manager, streamed)

    # -- async ------------------------------------------------------------------------------
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        shape = self._token_shaper(run_manager, kwargs, async_api=True)
        chunk: ChatGenerationChunk | None = None
        async for piece in self._astream(messages, stop, run_manager, **kwargs):
            if shape is not None and run_manager is not None:
                token = shape(piece)
                await run_manager.on_llm_new_token(token.message.text, chunk=token)
            chunk = piece if chunk is None else chunk + piece
        return chat_result(chunk)

    async def astream(
        self,
        input: LanguageModelInput,
        config: RunnableConfig | None = None,
        *,
        stop: list[str] | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[AIMessageChunk]:
        """Async ``stream``: the answer as this run's chunks, inner calls as child runs."""
        if not streaming_allowed(self, async_api=True, **{**kwargs, "stream": True}):
            reply = await self.ainvoke(input, config, stop=stop, **kwargs)
            yield cast("AIMessageChunk", reply)
            return
        config = with_conversation_metadata(config)
        async for chunk in astream_run(self, input, config, stop, kwargs):
            yield chunk

    @araising_model_errors
    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        if self._nothing_to_search():
            yield self._chunk(NOTHING_FOUND, Trace(), stop, run_manager)
            return
        output_type = self._output_type(kwargs)
        conversation = self._conversation(run_manager, kwargs)
        if conversation is not None:
            query, preamble = split_conversation(messages, who="ChatRLM")
            config = None if run_manager is None else child_config(run_manager)
            if output_type is not None:
                answer, trace = await conversation.arun(
                    query, self._context(), config, preamble, output_type=output_type
                )
                yield self._chunk(answer, trace, stop, run_manager)
                return
            events = conversation.aevents(query, self._context(), config, preamble)
        elif output_type is not None:
            query, bound = self._bind(messages, run_manager, kwargs, listen=True)
            reply, trace = await bound.rlm.arun(query, self._context(), output_type=output_type)
            yield self._chunk(reply, trace, stop, run_manager)
            return
        else:
            query, bound = self._bind(messages, run_manager, kwargs)
            events = bound.aevents(query, self._context())
        streamed = self._answer_text(stop)
        async for event in events:
            piece = answer_piece(event, streamed, _run_id(run_manager))
            if piece is not None:
                yield piece
            end = run_end_of(event)
            if end is not None:
                yield self._chunk(end[0], end[1], stop, run_manager, streamed)


def _run_id(run_manager: Any) -> UUID | None:
    return None if run_manager is None else run_manager.run_id
