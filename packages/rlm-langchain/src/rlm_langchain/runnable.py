"""``RLMRunnable``: a Recursive Language Model as an LCEL Runnable."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForChainRun, CallbackManagerForChainRun
from langchain_core.language_models import BaseChatModel
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from langchain_core.runnables.config import patch_config
from langchain_core.tools import BaseTool
from langchain_core.utils.pydantic import TypeBaseModel
from pydantic import BaseModel, ConfigDict, Field, model_validator

from rlm_core import AnswerText, Event, Trace
from rlm_langchain.adapter import require_chat_model
from rlm_langchain.engine import (
    BoundEngine,
    EngineSpec,
    RLMResult,
    check_rlm_options,
    config_errors_unwrapped,
    resolve_retriever,
    run_end_of,
)
from rlm_langchain.inputs import NOTHING_FOUND, RLMRequest, coerce_context, is_empty, parse_input
from rlm_langchain.keywords import collect_rlm_options, field_names, with_positional_llm
from rlm_langchain.model_errors import (
    araising_model_errors,
    model_errors_as_raised,
    raising_model_errors,
)
from rlm_langchain.progress import RLMProgress, dispatch_event
from rlm_langchain.sessions import Conversation, RLMSessions, conversation_id_of

RLMInput = str | dict[str, Any] | PromptValue
RLMOutput = str | RLMResult


class RLMQuestion(BaseModel):
    """The arguments of ``RLMRunnable.as_tool()``: the question only."""

    query: str = Field(description="The question to answer.")


class RLMQuery(BaseModel):
    """The input schema of ``RLMRunnable``."""

    query: str = Field(description="The question to answer.")
    context: str | list[str] | None = Field(
        default=None, description="The text (or documents) to search; optional."
    )


class RLMRunnable(RunnableSerializable[RLMInput, RLMOutput]):
    """Answers a query over a long context with a Recursive Language Model.

    ``RLMRunnable(llm=chat_model, sub_llm=None, retriever=None, context=None,
    return_trace=False, **rlm_options)``; the options go to ``rlm_core.RLM`` and
    are checked here. The input is a query str (with ``context`` given here) or a
    dict ``{"query": ..., "context": str | list[str] | list[Document]}``; the output
    is the answer, or an ``RLMResult`` with ``return_trace=True``. Every model and
    retriever call is a child run of the RLM's run, and each engine event is a
    custom event named ``rlm.<type>`` (``rlm.step_start``, ``rlm.run_end``, ...).
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    llm: BaseChatModel
    """The root model: it writes the code that searches the context."""
    sub_llm: BaseChatModel | None = None
    """The model of sub-calls (``llm_query`` and friends); defaults to ``llm``."""
    retriever: Any = None
    """A ``BaseRetriever`` (or an rlm-core retriever) searchable from the REPL."""
    context: Any = None
    """The default context: a str, a list of str or a list of Document."""
    return_trace: bool = False
    """Return an ``RLMResult`` (answer, trace, usage, documents) instead of the answer."""
    sessions: RLMSessions | None = Field(default=None, exclude=True)
    """Keep one rlm-core session (REPL) per conversation, named by the run's
    ``configurable`` ``session_id`` / ``thread_id``; see ``RLMSessions``."""
    rlm_options: dict[str, Any] = Field(default_factory=dict)
    """Keyword options of ``rlm_core.RLM`` (policy, max_output_tokens, ...); also given
    as keywords or as ``options=RLMOptions(...)``."""

    @model_validator(mode="before")
    @classmethod
    def _collect_options(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        known = collect_rlm_options("RLMRunnable", values, field_names(cls.model_fields))
        if "llm" not in known:
            raise ValueError("RLMRunnable needs llm=<a LangChain chat model>")
        require_chat_model(known["llm"], "llm")
        if known.get("sub_llm") is not None:
            require_chat_model(known["sub_llm"], "sub_llm")
        resolve_retriever(known.get("retriever"))
        if known.get("context") is not None:
            coerce_context(known["context"])
        return known

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with config_errors_unwrapped():
            super().__init__(**with_positional_llm("RLMRunnable", args, kwargs))

    @model_validator(mode="after")
    def _check_engine(self) -> RLMRunnable:
        self._spec().validate()
        return self

    # -- schema -----------------------------------------------------------------------------
    def get_input_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        return RLMQuery

    @property
    def OutputType(self) -> Any:
        return RLMResult if self.return_trace else str

    def get_output_schema(self, config: RunnableConfig | None = None) -> TypeBaseModel:
        if self.return_trace:
            return RLMResult
        return super().get_output_schema(config)

    def as_tool(
        self,
        args_schema: type[BaseModel] | None = None,
        *,
        name: str | None = None,
        description: str | None = None,
        arg_types: dict[str, type] | None = None,
    ) -> BaseTool:
        """A tool whose only argument is the question (``RLMQuestion``).

        The agent's model cannot replace the context configured here: arguments
        other than ``query`` are dropped before the RLM runs.
        """
        if args_schema is None and arg_types is None:
            args_schema = RLMQuestion
        return super().as_tool(args_schema, name=name, description=description, arg_types=arg_types)

    def with_trace(self) -> RLMRunnable:
        """A copy that returns an ``RLMResult`` (answer, trace, usage, documents)."""
        return self.model_copy(update={"return_trace": True})

    # -- running ----------------------------------------------------------------------------
    def _spec(self, call_options: dict[str, Any] | None = None) -> EngineSpec:
        """The engine; ``call_options`` (``invoke``/``bind`` keywords) override RLM options."""
        options = self.rlm_options
        if call_options:
            options = {**options, **check_rlm_options(call_options)}
        return EngineSpec(self.llm, self.sub_llm, self.retriever, options)

    def _nothing_to_search(self, request: RLMRequest) -> bool:
        """True when there is no text and no retriever (e.g. a RAG retriever found nothing)."""
        return self.retriever is None and is_empty(request.context)

    def _request(self, value: Any) -> RLMRequest:
        request = parse_input(value, self.context)
        if request.context is None and self.retriever is None:
            raise ValueError(
                "no context to search: give RLMRunnable(context=...), a 'context' key in the "
                "input dict, or RLMRunnable(retriever=...) to search an index"
            )
        return request

    def _output(self, bound: BoundEngine, answer: str, trace: Any, request: RLMRequest) -> Any:
        if self.return_trace:
            return bound.result(answer, trace, request.documents)
        return answer

    def invoke(self, input: RLMInput, config: RunnableConfig | None = None, **kwargs: Any) -> Any:
        return self._call_with_config(self._invoke, input, config, run_type="chain", **kwargs)

    @model_errors_as_raised()
    def _invoke(
        self,
        value: Any,
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Any:
        request = self._request(value)
        child = patch_config(config, callbacks=run_manager.get_child())
        bound = self._spec(kwargs).bind(
            child, lambda event: dispatch_event(event, child), preamble=request.preamble
        )
        if self._nothing_to_search(request):
            return self._output(bound, NOTHING_FOUND, Trace(), request)
        conversation = self._conversation(config, kwargs)
        if conversation is not None:
            answer, trace = conversation.run(
                request.query, request.context, child, request.preamble
            )
            return self._output(conversation.engine, answer, trace, request)
        answer, trace = bound.rlm.run(request.query, request.context)
        return self._output(bound, answer, trace, request)

    def _conversation(self, config: RunnableConfig, kwargs: dict[str, Any]) -> Conversation | None:
        """The conversation this run continues (``sessions`` set and a session/thread id)."""
        if self.sessions is None:
            return None
        conversation_id = conversation_id_of(config.get("configurable"))
        if conversation_id is None:
            return None
        return self.sessions.conversation(conversation_id, self._spec(kwargs))

    async def ainvoke(
        self, input: RLMInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Any:
        """The run's answer (or ``RLMResult``), from the async stream."""
        texts: list[str] = []
        answer: str | None = None
        result: Any = None
        async for chunk in self.astream(input, config, **kwargs):
            if isinstance(chunk, RLMProgress):
                end = run_end_of(chunk.event)
                answer = end[0] if end is not None else answer
            elif isinstance(chunk, str):
                texts.append(chunk)
            else:
                result = chunk
        if result is not None:
            return result
        return answer if answer is not None else "".join(texts)

    def stream(
        self, input: RLMInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self.transform(iter([input]), config, **kwargs)

    def transform(
        self, input: Iterator[RLMInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[Any]:
        yield from self._transform_stream_with_config(input, self._transform, config, **kwargs)

    @raising_model_errors
    def _transform(
        self,
        inputs: Iterator[Any],
        run_manager: CallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> Iterator[Any]:
        request = self._request(_gather(inputs))
        bound = self._spec(kwargs).bind(config, preamble=request.preamble)
        if self._nothing_to_search(request):
            yield self._output(bound, NOTHING_FOUND, Trace(), request)
            return
        conversation = self._conversation(config, kwargs)
        if conversation is not None:
            bound = conversation.engine
            query, context, preamble = request.query, request.context, request.preamble
            events = conversation.events(query, context, config, preamble)
        else:
            events = bound.events(request.query, request.context)
        streamed = None if self.return_trace else AnswerText()
        for event in events:
            yield from self._chunks_of(event, streamed, bound, request)

    async def astream(
        self, input: RLMInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async def once() -> AsyncIterator[RLMInput]:
            yield input

        async for chunk in self.atransform(once(), config, **kwargs):
            yield chunk

    async def atransform(
        self, input: AsyncIterator[RLMInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[Any]:
        async for chunk in self._atransform_stream_with_config(
            input, self._atransform, config, **kwargs
        ):
            yield chunk

    @araising_model_errors
    async def _atransform(
        self,
        inputs: AsyncIterator[Any],
        run_manager: AsyncCallbackManagerForChainRun,
        config: RunnableConfig,
        **kwargs: Any,
    ) -> AsyncIterator[Any]:
        chunks = [chunk async for chunk in inputs]
        request = self._request(_gather(iter(chunks)))
        bound = self._spec(kwargs).bind(config, preamble=request.preamble)
        if self._nothing_to_search(request):
            yield self._output(bound, NOTHING_FOUND, Trace(), request)
            return
        conversation = self._conversation(config, kwargs)
        if conversation is not None:
            bound = conversation.engine
            query, context, preamble = request.query, request.context, request.preamble
            events = conversation.aevents(query, context, config, preamble)
        else:
            events = bound.aevents(request.query, request.context)
        streamed = None if self.return_trace else AnswerText()
        async for event in events:
            for chunk in self._chunks_of(event, streamed, bound, request):
                yield chunk

    def _chunks_of(
        self,
        event: Event,
        streamed: AnswerText | None,
        bound: BoundEngine,
        request: RLMRequest,
    ) -> list[Any]:
        """What ``stream`` yields for ``event``: answer text as the run streams it (a plain
        answer only), a progress chunk for other events, and at the end the output (the
        part of the answer not streamed yet, or the whole ``RLMResult``)."""
        if event.type == "answer_delta":
            text = streamed.feed(event) if streamed is not None else ""
            return [text] if text else []
        chunks: list[Any] = [RLMProgress(event)]
        end = run_end_of(event)
        if end is not None:
            answer, trace = end
            if streamed is not None:
                rest = streamed.rest(answer)
                chunks += [rest] if rest or answer == rest else []
            else:
                chunks.append(self._output(bound, answer, trace, request))
        return chunks


def _gather(chunks: Iterator[Any]) -> Any:
    """Join streamed input chunks (``+`` when they support it, dicts merged)."""
    final: Any = None
    started = False
    for chunk in chunks:
        if not started:
            final, started = chunk, True
            continue
        try:
            final = final + chunk
        except TypeError:
            if isinstance(final, dict) and isinstance(chunk, dict):
                final = {**final, **chunk}
            else:
                final = chunk
    if not started:
        raise ValueError("RLMRunnable received no input")
    return final
