"""``RLMLLM``: a Recursive Language Model wherever LlamaIndex expects an LLM.

Every reply is one RLM run. The last user message is the question. With
``documents`` / ``retriever`` configured, those are searched and earlier turns
travel with the question as a short transcript; without them, the conversation
before the question (a chat engine's system prompt with its retrieved context,
earlier turns) is the text the RLM searches, and a lone prompt is itself the
text, with the instruction to do what it asks. That makes ``RLMLLM`` usable as
``Settings.llm``, behind ``SimpleChatEngine`` and ``index.as_chat_engine()``.

Model calls are reported by the wrapped LLMs themselves, so ``RLMLLM`` adds no
``LLM`` callback events of its own (token counters would count the run twice);
its REPL steps are ``FUNCTION_CALL`` events and spans as for the query engine.
"""

from __future__ import annotations

import contextvars
from collections.abc import AsyncGenerator, Generator, Sequence
from typing import Any

from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    ChatResponseAsyncGen,
    ChatResponseGen,
    CompletionResponse,
    CompletionResponseAsyncGen,
    CompletionResponseGen,
    LLMMetadata,
    MessageRole,
)
from llama_index.core.llms import LLM
from pydantic import PrivateAttr

from rlm_core import ConfigError, Context, ContextError
from rlm_llamaindex.runner import RLMRunner, RunResult
from rlm_llamaindex.streaming import pieces_from_task, pieces_from_thread

DO_WHAT_P_ASKS = "Do what the text in P asks and answer it."
# The RLM reads its context through code, so a chat engine may hand it long prompts.
CONTEXT_WINDOW = 1_000_000


def _text(message: ChatMessage) -> str:
    return str(message.content or "")


def split_conversation(messages: Sequence[ChatMessage]) -> tuple[str, list[str]]:
    """The question (last user message) and the turns before it as ``role: text`` lines."""
    last = next(
        (i for i in range(len(messages) - 1, -1, -1) if messages[i].role == MessageRole.USER),
        None,
    )
    if last is None or not _text(messages[last]).strip():
        raise ContextError("RLMLLM needs a non-empty user message to use as the question")
    earlier = [
        f"{message.role.value}: {_text(message)}"
        for message in messages[:last]
        if _text(message).strip()
    ]
    return _text(messages[last]), earlier


class RLMLLM(LLM):
    """A LlamaIndex ``LLM`` whose every reply is an RLM run (see the module docstring).

    ``llm`` writes the code (default ``Settings.llm`` at construction), ``sub_llm``
    answers sub-calls; ``documents`` / ``retriever`` are optional data to search.
    Other keywords are ``rlm_core.RLM`` options (``forward_limits`` / ``stream_calls``
    configure the wrapped LLMs' adapters).
    """

    _runner: RLMRunner = PrivateAttr()
    _model_name: str = PrivateAttr()

    def __init__(
        self,
        llm: Any = None,
        sub_llm: Any = None,
        documents: Any = None,
        retriever: Any = None,
        **rlm_options: Any,
    ) -> None:
        callback_manager = rlm_options.pop("callback_manager", None)
        super().__init__(callback_manager=callback_manager)
        for name, model in (("llm", llm), ("sub_llm", sub_llm)):
            if isinstance(model, RLMLLM):
                raise ConfigError(f"{name} must be the model that writes code, not an RLMLLM")
        self._runner = RLMRunner(
            llm,
            sub_llm,
            documents=documents,
            retriever=retriever,
            require_source=False,
            **rlm_options,
        )
        self._model_name = f"rlm:{self._runner.adapter.model_id}"

    @classmethod
    def class_name(cls) -> str:
        return "RLMLLM"

    @property
    def metadata(self) -> LLMMetadata:
        return LLMMetadata(
            context_window=CONTEXT_WINDOW,
            num_output=self._runner.options.max_output_tokens,
            is_chat_model=True,
            is_function_calling_model=False,
            model_name=self._model_name,
        )

    # -- one run -----------------------------------------------------------------------------
    def _inputs(self, messages: Sequence[ChatMessage]) -> tuple[str, Context | None]:
        question, earlier = split_conversation(messages)
        runner = self._runner
        if runner.context is not None or runner.retriever is not None:
            if earlier:
                transcript = "\n".join(earlier)
                question = f"Conversation so far:\n{transcript}\n\nAnswer this message: {question}"
            return question, runner.context
        if earlier:
            return question, Context.from_text("\n\n".join(earlier))
        return DO_WHAT_P_ASKS, Context.from_text(question)

    def _prepared(self, listeners: list[Any]) -> tuple[Any, Any]:
        return self._runner.prepare(
            instance=self,
            callback_manager=self.callback_manager,
            parent_event=None,
            listeners=listeners,
        )

    def _run(self, messages: Sequence[ChatMessage], listeners: list[Any]) -> RunResult:
        query, context = self._inputs(messages)
        rlm, retriever = self._prepared(listeners)
        answer, trace = rlm.run(query, context)
        return self._result(answer, trace, retriever, context)

    async def _arun(self, messages: Sequence[ChatMessage], listeners: list[Any]) -> RunResult:
        query, context = self._inputs(messages)
        rlm, retriever = self._prepared(listeners)
        answer, trace = await rlm.arun(query, context)
        return self._result(answer, trace, retriever, context)

    def _result(
        self, answer: str, trace: Any, retriever: Any, context: Context | None
    ) -> RunResult:
        own = context is self._runner.context  # else the conversation: no nodes behind it
        return self._runner.result(
            answer, trace, retriever, nodes=None if own else [], context=context
        )

    @staticmethod
    def _chat_response(result: RunResult) -> ChatResponse:
        usage = result.metadata["usage"]
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=result.answer),
            raw={"rlm": {key: value for key, value in result.metadata.items() if key != "trace"}},
            additional_kwargs={
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "total_tokens": usage["total_tokens"],
            },
        )

    # -- chat ----------------------------------------------------------------------------------
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(self._run(messages, []))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        return self._chat_response(await self._arun(messages, []))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        self._inputs(messages)  # a bad conversation fails here, not in the worker
        pieces, worker = pieces_from_thread(
            lambda listeners: self._run(messages, listeners),
            context=contextvars.copy_context(),
            finish=lambda result, error: None,
        )
        worker.start()
        return _chat_chunks(pieces)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        self._inputs(messages)
        pieces, _ = pieces_from_task(
            lambda listeners: self._arun(messages, listeners),
            context=contextvars.copy_context(),
            finish=lambda result, error: None,
        )
        return _achat_chunks(pieces)

    # -- completion ----------------------------------------------------------------------------
    @staticmethod
    def _prompt(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        response = self.chat(self._prompt(prompt))
        return CompletionResponse(
            text=_text(response.message),
            raw=response.raw,
            additional_kwargs=response.additional_kwargs,
        )

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        response = await self.achat(self._prompt(prompt))
        return CompletionResponse(
            text=_text(response.message),
            raw=response.raw,
            additional_kwargs=response.additional_kwargs,
        )

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        chunks = self.stream_chat(self._prompt(prompt))
        return (
            CompletionResponse(text=_text(chunk.message), delta=chunk.delta) for chunk in chunks
        )

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chunks = await self.astream_chat(self._prompt(prompt))

        async def generate() -> AsyncGenerator[CompletionResponse, None]:
            async for chunk in chunks:
                yield CompletionResponse(text=_text(chunk.message), delta=chunk.delta)

        return generate()

    def __repr__(self) -> str:
        return f"RLMLLM(llm={self._runner.adapter.model_id!r})"


def _chunk(text: str, piece: str) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)


def _chat_chunks(pieces: Generator[str, None, None]) -> ChatResponseGen:
    text = ""
    for piece in pieces:
        text += piece
        yield _chunk(text, piece)


async def _achat_chunks(pieces: AsyncGenerator[str, None]) -> ChatResponseAsyncGen:
    text = ""
    async for piece in pieces:
        text += piece
        yield _chunk(text, piece)
