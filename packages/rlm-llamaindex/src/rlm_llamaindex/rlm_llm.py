"""``RLMLLM``: a Recursive Language Model wherever LlamaIndex expects an LLM.

Every reply is an RLM run. The last user message is the question. With
``documents`` / ``retriever`` configured, those are searched and earlier turns
travel with the question as a short transcript; without them, the conversation
before the question (a chat engine's system prompt with its retrieved context,
earlier turns) is the text the RLM searches, and a lone prompt is itself the
text, with the instruction to do what it asks. That makes ``RLMLLM`` usable as
``Settings.llm``, behind ``SimpleChatEngine`` and ``index.as_chat_engine()``.

The turns of one conversation run in one core session (see ``conversations``), so
REPL variables survive between turns; after the first turn the REPL already holds
the conversation, and the new message is the question.

Model calls are reported by the wrapped LLMs themselves, so ``RLMLLM`` adds no
``LLM`` callback events of its own (token counters would count the run twice);
its REPL steps are ``FUNCTION_CALL`` events and spans as for the query engine.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
from collections.abc import AsyncGenerator, Callable, Generator, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from llama_index.core import Settings
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
from llama_index.core.instrumentation.events.llm import (
    LLMStructuredPredictEndEvent,
    LLMStructuredPredictStartEvent,
)
from llama_index.core.llms import LLM
from llama_index.core.prompts import BasePromptTemplate, PromptTemplate
from llama_index.core.types import TokenAsyncGen, TokenGen
from llama_index_instrumentation import get_dispatcher
from pydantic import BaseModel, PrivateAttr

from rlm_core import ConfigError, Context, Trace
from rlm_llamaindex.chat_input import ChatInput, message_text, read_chat
from rlm_llamaindex.conversations import ChatSessions, Conversation, Message
from rlm_llamaindex.runner import RLMRunner, RunResult
from rlm_llamaindex.streaming import pieces_from_task, pieces_from_thread

DO_WHAT_P_ASKS = "Do what the text in P asks and answer it."
# The RLM reads its context through code, so a chat engine may hand it long prompts.
CONTEXT_WINDOW = 1_000_000

dispatcher = get_dispatcher(__name__)
Model = TypeVar("Model", bound=BaseModel)


@dataclass
class _Turn:
    """What a streamed reply needs to record the text it showed (see ``shown``)."""

    conversation: Conversation | None = None
    prior: tuple[Message, ...] = ()
    question: str = ""
    answer: str = ""

    def shown(self, text: str) -> None:
        """The stream showed ``text`` (the answer, or a streamed start and then the answer):
        that is what a chat engine's memory replays next turn, so the conversation expects it."""
        conversation = self.conversation
        if conversation is None or text.strip() == self.answer.strip():
            return
        expected = (
            *self.prior,
            ("user", self.question.strip()),
            ("assistant", self.answer.strip()),
        )
        if conversation.expected == expected:  # no later turn has moved on meanwhile
            conversation.answered(self.prior, self.question, text)


class RLMLLM(LLM):
    """A LlamaIndex ``LLM`` whose every reply is an RLM run (see the module docstring).

    ``llm`` writes the code (default ``Settings.llm`` at construction), ``sub_llm``
    answers sub-calls; ``documents`` / ``retriever`` are optional data to search.
    ``sessions`` keeps one core session per conversation (``True``: a ``ChatSessions()``;
    pass your own to set its limits, ``False`` for a fresh run every reply).
    Other keywords are ``rlm_core.RLM`` options (``forward_limits`` / ``stream_calls``
    configure the wrapped LLMs' adapters).
    """

    runs_an_rlm: ClassVar[bool] = True  # never the model of another RLM (see resolve_llm)
    _runner: RLMRunner = PrivateAttr()
    _model_name: str = PrivateAttr()
    _sessions: ChatSessions | None = PrivateAttr()
    _named: contextvars.ContextVar[str | None] = PrivateAttr()
    _predicting: contextvars.ContextVar[bool] = PrivateAttr()

    def __init__(
        self,
        llm: Any = None,
        sub_llm: Any = None,
        documents: Any = None,
        retriever: Any = None,
        sessions: ChatSessions | bool = True,
        **rlm_options: Any,
    ) -> None:
        callback_manager = rlm_options.pop("callback_manager", None) or Settings.callback_manager
        super().__init__(callback_manager=callback_manager)
        self._runner = RLMRunner(
            llm,
            sub_llm,
            documents=documents,
            retriever=retriever,
            require_source=False,
            **rlm_options,
        )
        self._model_name = f"rlm:{self._runner.adapter.model_id}"
        self._sessions = _sessions_of(sessions)
        self._named = contextvars.ContextVar(f"rlm_conversation_{id(self)}", default=None)
        self._predicting = contextvars.ContextVar(f"rlm_predicting_{id(self)}", default=False)

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

    # -- conversations -------------------------------------------------------------------------
    @property
    def sessions(self) -> ChatSessions | None:
        """The open conversations (``None`` when built with ``sessions=False``)."""
        return self._sessions

    @contextlib.contextmanager
    def conversation(self, conversation_id: str) -> Iterator[None]:
        """Calls made in this block (chat, completion, structured) are turns of the
        conversation ``conversation_id``, whatever their messages."""
        token = self._named.set(self._checked_id(conversation_id))
        try:
            yield
        finally:
            self._named.reset(token)

    def close(self) -> None:
        """Close every conversation's session (their REPLs)."""
        if self._sessions is not None:
            self._sessions.close_all()

    async def aclose(self) -> None:
        await asyncio.to_thread(self.close)

    def _checked_id(self, conversation_id: Any) -> str:
        if not isinstance(conversation_id, str) or not conversation_id.strip():
            raise ConfigError(
                f"conversation_id must be a non-empty str, got {conversation_id!r:.80}"
            )
        if self._sessions is None:
            raise ConfigError(
                "this RLMLLM keeps no sessions (sessions=False), so a conversation_id has no "
                "effect; build it with sessions=True (the default) to keep one per conversation"
            )
        return conversation_id

    def _conversation_id(self, kwargs: dict[str, Any]) -> str | None:
        given = kwargs.get("conversation_id")
        return self._checked_id(given) if given is not None else self._named.get()

    # -- one reply -------------------------------------------------------------------------------
    def _first_inputs(self, chat: ChatInput) -> tuple[str, Context | None]:
        """A fresh run's (or a conversation's first turn's) question and context."""
        runner = self._runner
        if runner.context is not None or runner.retriever is not None:
            question = chat.question
            if chat.earlier:
                transcript = "\n".join(chat.earlier)
                question = f"Conversation so far:\n{transcript}\n\nAnswer this message: {question}"
            return question, runner.context
        if chat.earlier:
            return chat.question, Context.from_text("\n\n".join(chat.earlier))
        return DO_WHAT_P_ASKS, Context.from_text(chat.question)

    def _turn_inputs(self, chat: ChatInput, conversation: Conversation) -> tuple[str, Any]:
        """A conversation turn's question and context: after the first turn the REPL holds
        the earlier ones, and only a changed system message (a chat engine's new retrieved
        context) is new text, added as the session's next ``contexts`` entry."""
        if conversation.first_turn:
            return self._first_inputs(chat)
        system = chat.system.strip()
        if system and system != conversation.system.strip():
            return chat.question, Context.from_text(chat.system)
        return chat.question, None

    @contextlib.contextmanager
    def _in_conversation(
        self, chat: ChatInput, conversation_id: str | None, listeners: list[Any]
    ) -> Iterator[Conversation]:
        """The conversation a turn runs in, bound to this turn's listeners; a conversation
        whose first turn failed is closed unless it was named."""
        sessions = self._sessions
        assert sessions is not None
        conversation = sessions.begin(conversation_id, chat.prior, self._runner.open_session)
        failed = False
        try:
            conversation.session.listeners = [
                *self._runner.bridges(
                    instance=self,
                    callback_manager=self.callback_manager,
                    parent_event=None,
                    listeners=listeners,
                ),
                *self._runner.listeners,
            ]
            if conversation.retriever is not None:
                conversation.retriever.clear_records()
            yield conversation
        except BaseException:
            failed = True
            raise
        finally:
            conversation.session.listeners = []  # hold no listener of this turn
            sessions.end(conversation)
            if failed and conversation.first_turn and not conversation.explicit:
                sessions.close(conversation.conversation_id)

    def _one_off(self, listeners: list[Any]) -> tuple[Any, Any]:
        return self._runner.prepare(
            instance=self,
            callback_manager=self.callback_manager,
            parent_event=None,
            listeners=listeners,
        )

    def _uses_session(self, conversation_id: str | None, prompt: bool) -> bool:
        """Chat calls keep sessions; prompt calls (``complete``, and ``predict`` of a plain
        ``PromptTemplate``, which LlamaIndex sends through ``chat``) only in a named one."""
        one_prompt = prompt or self._predicting.get()
        return self._sessions is not None and (conversation_id is not None or not one_prompt)

    # -- predict: a plain prompt template is one prompt, like complete ----------------------
    @contextlib.contextmanager
    def _one_prompt(self, prompt: BasePromptTemplate) -> Iterator[None]:
        """Within the block, replies are fresh runs when ``prompt`` is a plain
        ``PromptTemplate`` (a chat engine condensing a question, a one-off ``predict``);
        chat templates may carry a conversation (``CondensePlusContextChatEngine`` answers
        through one), so they are chat calls."""
        token = self._predicting.set(isinstance(prompt, PromptTemplate))
        try:
            yield
        finally:
            self._predicting.reset(token)

    def predict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        """``LLM.predict``; with a plain ``PromptTemplate``, a fresh run like ``complete``
        (no session) unless a conversation is named."""
        with self._one_prompt(prompt):
            return super().predict(prompt, **prompt_args)

    async def apredict(self, prompt: BasePromptTemplate, **prompt_args: Any) -> str:
        with self._one_prompt(prompt):
            return await super().apredict(prompt, **prompt_args)

    def stream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenGen:
        with self._one_prompt(prompt):  # the reply's worker starts (with this context) in here
            return super().stream(prompt, **prompt_args)

    async def astream(self, prompt: BasePromptTemplate, **prompt_args: Any) -> TokenAsyncGen:
        with self._one_prompt(prompt):
            return await super().astream(prompt, **prompt_args)

    def _reply(
        self,
        messages: Sequence[ChatMessage],
        listeners: list[Any],
        conversation_id: str | None,
        *,
        prompt: bool = False,
        output_type: Any = None,
        turn: _Turn | None = None,
    ) -> RunResult:
        chat = read_chat(messages)
        if not self._uses_session(conversation_id, prompt):
            query, context = self._first_inputs(chat)
            rlm, retriever = self._one_off(listeners)
            answer, trace = rlm.run(query, context, output_type=output_type)
            return self._one_off_result(answer, trace, retriever, context, output_type)
        with self._in_conversation(chat, conversation_id, listeners) as conversation:
            query, context = self._turn_inputs(chat, conversation)
            answer, trace = conversation.session.run(query, context, output_type=output_type)
            return self._turn_result(chat, conversation, answer, trace, output_type, turn)

    async def _areply(
        self,
        messages: Sequence[ChatMessage],
        listeners: list[Any],
        conversation_id: str | None,
        *,
        prompt: bool = False,
        output_type: Any = None,
        turn: _Turn | None = None,
    ) -> RunResult:
        chat = read_chat(messages)
        if not self._uses_session(conversation_id, prompt):
            query, context = self._first_inputs(chat)
            rlm, retriever = self._one_off(listeners)
            answer, trace = await rlm.arun(query, context, output_type=output_type)
            return self._one_off_result(answer, trace, retriever, context, output_type)
        with self._in_conversation(chat, conversation_id, listeners) as conversation:
            query, context = self._turn_inputs(chat, conversation)
            answer, trace = await conversation.session.arun(query, context, output_type=output_type)
            return self._turn_result(chat, conversation, answer, trace, output_type, turn)

    def _one_off_result(
        self, answer: Any, trace: Trace, retriever: Any, context: Context | None, output_type: Any
    ) -> RunResult:
        own = context is self._runner.context  # else the conversation: no nodes behind it
        text, output = _answer_and_output(answer, trace, output_type)
        return self._runner.result(
            text, trace, retriever, nodes=None if own else [], context=context, output=output
        )

    def _turn_result(
        self,
        chat: ChatInput,
        conversation: Conversation,
        answer: Any,
        trace: Trace,
        output_type: Any,
        turn: _Turn | None,
    ) -> RunResult:
        text, output = _answer_and_output(answer, trace, output_type)
        trace.metadata["conversation_id"] = conversation.conversation_id
        searched = self._runner.context is not None or self._runner.retriever is not None
        result = self._runner.result(
            text, trace, conversation.retriever, nodes=None if searched else [], output=output
        )
        conversation.system = chat.system
        conversation.answered(chat.prior, chat.question, text)
        if turn is not None:
            turn.conversation, turn.prior, turn.question = conversation, chat.prior, chat.question
            turn.answer = text
        return result

    @staticmethod
    def _chat_response(result: RunResult) -> ChatResponse:
        usage = result.metadata["usage"]
        rlm = {key: value for key, value in result.metadata.items() if key != "trace"}
        rlm["conversation_id"] = result.trace.metadata.get("conversation_id")
        return ChatResponse(
            message=ChatMessage(role=MessageRole.ASSISTANT, content=result.answer),
            raw={"rlm": rlm},
            additional_kwargs={
                "prompt_tokens": usage["prompt_tokens"],
                "completion_tokens": usage["completion_tokens"],
                "total_tokens": usage["total_tokens"],
            },
        )

    # -- chat ----------------------------------------------------------------------------------
    def chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        """One reply; ``conversation_id=`` names the conversation it continues."""
        conversation_id = self._conversation_id(kwargs)
        return self._chat_response(self._reply(messages, [], conversation_id))

    async def achat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponse:
        conversation_id = self._conversation_id(kwargs)
        return self._chat_response(await self._areply(messages, [], conversation_id))

    def stream_chat(self, messages: Sequence[ChatMessage], **kwargs: Any) -> ChatResponseGen:
        return self._stream(messages, self._conversation_id(kwargs), prompt=False)

    async def astream_chat(
        self, messages: Sequence[ChatMessage], **kwargs: Any
    ) -> ChatResponseAsyncGen:
        return self._astream(messages, self._conversation_id(kwargs), prompt=False)

    def _stream(
        self, messages: Sequence[ChatMessage], conversation_id: str | None, *, prompt: bool
    ) -> ChatResponseGen:
        read_chat(messages)  # a bad conversation fails here, not in the worker
        turn = _Turn()
        pieces, worker = pieces_from_thread(
            lambda listeners: self._reply(
                messages, listeners, conversation_id, prompt=prompt, turn=turn
            ),
            context=contextvars.copy_context(),
            finish=lambda result, error: None,
        )
        worker.start()
        return _chat_chunks(pieces, turn.shown)

    def _astream(
        self, messages: Sequence[ChatMessage], conversation_id: str | None, *, prompt: bool
    ) -> ChatResponseAsyncGen:
        read_chat(messages)
        turn = _Turn()
        pieces, _ = pieces_from_task(
            lambda listeners: self._areply(
                messages, listeners, conversation_id, prompt=prompt, turn=turn
            ),
            context=contextvars.copy_context(),
            finish=lambda result, error: None,
        )
        return _achat_chunks(pieces, turn.shown)

    # -- completion ----------------------------------------------------------------------------
    @staticmethod
    def _prompt(prompt: str) -> list[ChatMessage]:
        return [ChatMessage(role=MessageRole.USER, content=prompt)]

    @staticmethod
    def _completion(response: ChatResponse) -> CompletionResponse:
        return CompletionResponse(
            text=message_text(response.message),
            raw=response.raw,
            additional_kwargs=response.additional_kwargs,
        )

    def complete(self, prompt: str, formatted: bool = False, **kwargs: Any) -> CompletionResponse:
        """One reply to ``prompt``; a fresh run unless a conversation is named."""
        result = self._reply(self._prompt(prompt), [], self._conversation_id(kwargs), prompt=True)
        return self._completion(self._chat_response(result))

    async def acomplete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponse:
        conversation_id = self._conversation_id(kwargs)
        result = await self._areply(self._prompt(prompt), [], conversation_id, prompt=True)
        return self._completion(self._chat_response(result))

    def stream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseGen:
        chunks = self._stream(self._prompt(prompt), self._conversation_id(kwargs), prompt=True)
        return (
            CompletionResponse(text=message_text(chunk.message), delta=chunk.delta)
            for chunk in chunks
        )

    async def astream_complete(
        self, prompt: str, formatted: bool = False, **kwargs: Any
    ) -> CompletionResponseAsyncGen:
        chunks = self._astream(self._prompt(prompt), self._conversation_id(kwargs), prompt=True)

        async def generate() -> AsyncGenerator[CompletionResponse, None]:
            async for chunk in chunks:
                yield CompletionResponse(text=message_text(chunk.message), delta=chunk.delta)

        return generate()

    # -- structured output -----------------------------------------------------------------------
    def structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        """An ``output_cls`` instance from one run with the core's structured answers: the
        root model is shown the schema, its answer is validated, and one repair turn is
        allowed (``rlm_core.OutputValidationError`` after that, with the run's trace).
        ``as_structured_llm(output_cls)`` builds on this."""
        messages = self._structured_start(output_cls, prompt, prompt_args)
        conversation_id = self._conversation_id(llm_kwargs or {})
        result = self._reply(messages, [], conversation_id, output_type=output_cls)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result.output))
        return result.output  # type: ignore[no-any-return]

    async def astructured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Model:
        messages = self._structured_start(output_cls, prompt, prompt_args)
        conversation_id = self._conversation_id(llm_kwargs or {})
        result = await self._areply(messages, [], conversation_id, output_type=output_cls)
        dispatcher.event(LLMStructuredPredictEndEvent(output=result.output))
        return result.output  # type: ignore[no-any-return]

    def stream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> Generator[Model, None, None]:
        """Yields the validated object once, when the run ends (partial objects would not be
        validated answers)."""
        yield self.structured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

    async def astream_structured_predict(
        self,
        output_cls: type[Model],
        prompt: PromptTemplate,
        llm_kwargs: dict[str, Any] | None = None,
        **prompt_args: Any,
    ) -> AsyncGenerator[Model, None]:
        async def generate() -> AsyncGenerator[Model, None]:
            yield await self.astructured_predict(output_cls, prompt, llm_kwargs, **prompt_args)

        return generate()

    def _structured_start(
        self, output_cls: Any, prompt: PromptTemplate, prompt_args: dict[str, Any]
    ) -> list[ChatMessage]:
        if not (isinstance(output_cls, type) and issubclass(output_cls, BaseModel)):
            raise ConfigError(
                f"output_cls must be a pydantic model class (a BaseModel subclass), got "
                f"{output_cls!r:.80}"
            )
        dispatcher.event(
            LLMStructuredPredictStartEvent(
                output_cls=output_cls, template=prompt, template_args=prompt_args
            )
        )
        return self._get_messages(prompt, **prompt_args)

    def __repr__(self) -> str:
        return f"RLMLLM(llm={self._runner.adapter.model_id!r})"


def _sessions_of(value: Any) -> ChatSessions | None:
    if value is True:
        return ChatSessions()
    if value is False or value is None:
        return None
    if isinstance(value, ChatSessions):
        return value
    raise ConfigError(
        f"sessions must be True, False or a ChatSessions(...), got {type(value).__name__}"
    )


def _answer_and_output(answer: Any, trace: Trace, output_type: Any) -> tuple[str, Any]:
    """The answer text and, for a structured run, the validated value (its JSON is the text)."""
    if output_type is None:
        return str(answer), None
    return trace.answer or "", answer


def _chunk(text: str, piece: str) -> ChatResponse:
    return ChatResponse(message=ChatMessage(role=MessageRole.ASSISTANT, content=text), delta=piece)


def _chat_chunks(
    pieces: Generator[str, None, None], shown: Callable[[str], None]
) -> ChatResponseGen:
    text = ""
    for piece in pieces:
        text += piece
        yield _chunk(text, piece)
    shown(text)


async def _achat_chunks(
    pieces: AsyncGenerator[str, None], shown: Callable[[str], None]
) -> ChatResponseAsyncGen:
    text = ""
    async for piece in pieces:
        text += piece
        yield _chunk(text, piece)
    shown(text)
