"""``ChatRLM``: a Recursive Language Model wherever LangChain expects a chat model."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

from langchain_core.callbacks import (
    AsyncCallbackManager,
    AsyncCallbackManagerForLLMRun,
    CallbackManager,
    CallbackManagerForLLMRun,
)
from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, AIMessageChunk, BaseMessage, HumanMessage
from langchain_core.messages.ai import UsageMetadata
from langchain_core.outputs import ChatGeneration, ChatGenerationChunk, ChatResult
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field, model_validator

from rlm_core import Trace
from rlm_langchain.adapter import model_name_of, require_chat_model
from rlm_langchain.engine import (
    EngineSpec,
    check_rlm_options,
    config_errors_unwrapped,
    resolve_retriever,
    run_end_of,
)
from rlm_langchain.inputs import coerce_context
from rlm_langchain.progress import dispatch_event

_ROLE_NAMES = {"human": "user", "ai": "assistant", "system": "system"}


def query_of(messages: list[BaseMessage]) -> str:
    """The last user message, preceded by the earlier turns when there are any."""
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if isinstance(messages[i], HumanMessage)),
        None,
    )
    if last is None or not str(messages[last].text).strip():
        raise ValueError("ChatRLM needs a non-empty user (human) message to use as the query")
    question = str(messages[last].text)
    earlier = [
        f"{_ROLE_NAMES.get(message.type, message.type)}: {message.text}"
        for message in messages[:last]
        if str(message.text).strip()
    ]
    if not earlier:
        return question
    return "Conversation so far:\n" + "\n".join(earlier) + f"\n\nAnswer this message: {question}"


def _cut_at_stop(text: str, stop: list[str] | None) -> str:
    for marker in stop or []:
        if marker and marker in text:
            text = text[: text.index(marker)]
    return text


class ChatRLM(BaseChatModel):
    """A chat model whose every reply is an RLM run over a configured context or retriever.

    The last user message is the query (earlier turns are passed along as a short
    transcript). ``llm`` writes the code, ``sub_llm`` answers sub-calls, and the
    data comes from ``context`` (str, list of str or Documents) and/or
    ``retriever``. ``max_tokens`` caps each root step (``RLM(max_output_tokens)``);
    ``stop`` cuts the answer. Engine events are sent as ``rlm.<type>`` custom events.
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

    @model_validator(mode="before")
    @classmethod
    def _check_inputs(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
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
        values = dict(values)
        options = check_rlm_options(values.get("rlm_options"))
        values["rlm_options"] = check_rlm_options(
            {"options": values.pop("options", None), **options}
        )
        return values

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        with config_errors_unwrapped():
            super().__init__(*args, **kwargs)

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
        return {
            "model_name": self.model_name,
            "root_model": model_name_of(self.llm),
            "sub_model": None if self.sub_llm is None else model_name_of(self.sub_llm),
        }

    def _spec(self) -> EngineSpec:
        options = dict(self.rlm_options)
        if self.max_tokens is not None:
            options.setdefault("max_output_tokens", self.max_tokens)
        return EngineSpec(self.llm, self.sub_llm, self.retriever, options)

    def _context(self) -> str | list[str] | None:
        return None if self.context is None else coerce_context(self.context)[0]

    def _message(self, answer: str, trace: Trace, stop: list[str] | None) -> AIMessage:
        usage = trace.usage
        return AIMessage(
            content=_cut_at_stop(answer, stop or self.stop),
            usage_metadata=UsageMetadata(
                input_tokens=usage.prompt_tokens,
                output_tokens=usage.completion_tokens,
                total_tokens=usage.total_tokens,
            ),
            response_metadata={
                "model_name": self.model_name,
                "finish_reason": "stop",
                "rlm_steps": len(trace),
            },
        )

    @staticmethod
    def _config(run_manager: Any) -> RunnableConfig | None:
        """Callbacks that make the RLM's model and retriever calls children of this run."""
        if run_manager is None:
            return None
        manager_class = (
            AsyncCallbackManager
            if isinstance(run_manager, AsyncCallbackManagerForLLMRun)
            else CallbackManager
        )
        manager = manager_class(handlers=[], parent_run_id=run_manager.run_id)
        manager.set_handlers(run_manager.inheritable_handlers)
        manager.add_tags(run_manager.inheritable_tags)
        manager.add_metadata(run_manager.inheritable_metadata)
        return {"callbacks": manager}

    # -- sync -------------------------------------------------------------------------------
    def _generate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        query = query_of(messages)
        config = self._config(run_manager)
        listener = None if config is None else (lambda event: dispatch_event(event, config))
        bound = self._spec().bind(config, listener)
        answer, trace = bound.rlm.run(query, self._context())
        return ChatResult(generations=[ChatGeneration(message=self._message(answer, trace, stop))])

    def _stream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: CallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> Iterator[ChatGenerationChunk]:
        query = query_of(messages)
        bound = self._spec().bind(self._config(run_manager))
        for event in bound.events(query, self._context()):
            end = run_end_of(event)
            if end is not None:
                yield self._chunk(end[0], end[1], stop)

    # -- async ------------------------------------------------------------------------------
    async def _agenerate(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> ChatResult:
        query = query_of(messages)
        bound = self._spec().bind(self._config(run_manager))
        end: tuple[str, Trace] | None = None
        async for event in bound.aevents(query, self._context()):
            end = run_end_of(event) or end
        if end is None:  # pragma: no cover - RLM.astream raises when the run fails
            raise RuntimeError("the RLM run ended without an answer")
        message = self._message(end[0], end[1], stop)
        return ChatResult(generations=[ChatGeneration(message=message)])

    async def _astream(
        self,
        messages: list[BaseMessage],
        stop: list[str] | None = None,
        run_manager: AsyncCallbackManagerForLLMRun | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[ChatGenerationChunk]:
        query = query_of(messages)
        bound = self._spec().bind(self._config(run_manager))
        async for event in bound.aevents(query, self._context()):
            end = run_end_of(event)
            if end is not None:
                yield self._chunk(end[0], end[1], stop)

    def _chunk(self, answer: str, trace: Trace, stop: list[str] | None) -> ChatGenerationChunk:
        message = self._message(answer, trace, stop)
        return ChatGenerationChunk(
            message=AIMessageChunk(
                content=message.content,
                usage_metadata=message.usage_metadata,
                response_metadata=message.response_metadata,
                chunk_position="last",
            )
        )
