"""``ChatModelAdapter``: any LangChain chat model as an rlm-core model adapter."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import Runnable, RunnableConfig

from rlm_core import ModelResponse, Usage, estimate_tokens, report_piece
from rlm_langchain.capped import CappedReply, tokens_in
from rlm_langchain.conversation import Preamble
from rlm_langchain.local_server import for_local_server

_ROLES: dict[str, type[BaseMessage]] = {
    "system": SystemMessage,
    "user": HumanMessage,
    "assistant": AIMessage,
}


def require_chat_model(value: object, name: str = "llm") -> BaseChatModel:
    """``value`` if it is a LangChain chat model, else a ``TypeError`` naming the fix."""
    if isinstance(value, BaseChatModel):
        return value
    hint = ""
    if isinstance(value, Runnable):
        hint = (
            " (a completion LLM or another Runnable is not enough: the RLM sends chat "
            "messages, so use the chat class, e.g. ChatOpenAI rather than OpenAI)"
        )
    raise TypeError(
        f"{name} must be a LangChain chat model (a BaseChatModel instance), got "
        f"{type(value).__name__}{hint}"
    )


def to_langchain_messages(messages: Sequence[Mapping[str, str]]) -> list[BaseMessage]:
    """Core message dicts (role system/user/assistant) as LangChain messages."""
    converted: list[BaseMessage] = []
    for index, message in enumerate(messages):
        role = message.get("role")
        cls = _ROLES.get(str(role))
        if cls is None:
            raise ValueError(
                f"message {index} has role {role!r}; the RLM engine only sends "
                f"roles {sorted(_ROLES)}"
            )
        converted.append(cls(content=str(message.get("content", ""))))
    return converted


def usage_of(reply: BaseMessage, messages: Sequence[Mapping[str, str]], text: str) -> Usage:
    """Token usage from ``usage_metadata``; estimated from lengths when the model reports none."""
    metadata = getattr(reply, "usage_metadata", None)
    if metadata:
        return Usage(
            prompt_tokens=int(metadata.get("input_tokens", 0) or 0),
            completion_tokens=int(metadata.get("output_tokens", 0) or 0),
        )
    prompt = sum(estimate_tokens(str(message.get("content", ""))) for message in messages)
    return Usage(prompt_tokens=prompt, completion_tokens=estimate_tokens(text))


def model_name_of(llm: BaseChatModel) -> str:
    """The model's name (``model_name``/``model``/``model_id`` field), else its ``_llm_type``."""
    for attribute in ("model_name", "model", "model_id"):
        value = getattr(llm, attribute, None)
        if isinstance(value, str) and value:
            return value
    try:
        return str(llm._llm_type)
    except Exception:  # a half-implemented model: fall back to its class name
        return type(llm).__name__


CAP_PARAMETERS = ("max_tokens", "max_output_tokens", "max_new_tokens", "num_predict")
"""Fields through which chat models take an output-token limit, in order of preference."""


def cap_parameter_of(llm: BaseChatModel) -> str | None:
    """The model's own output-token limit field (``max_tokens``, ``num_predict``, ...), if any."""
    fields = type(llm).model_fields
    return next((name for name in CAP_PARAMETERS if name in fields), None)


def supports_max_tokens(llm: BaseChatModel) -> bool:
    """True when the model declares an output-token limit field (so the cap can be bound)."""
    return cap_parameter_of(llm) is not None


class ChatModelAdapter:
    """Drives a LangChain ``BaseChatModel`` as the RLM's root or sub-model.

    ``config`` is passed to every call, so with the callbacks of a parent run each
    model call becomes a child run of it (see ``with_config``). The token cap of a
    call is bound through the model's own limit field (``max_tokens``,
    ``max_output_tokens``, ``max_new_tokens`` or ``num_predict``; ``bind_max_tokens``
    overrides the detection) and also enforced here: every call is streamed and
    reading stops once the reply passes its cap, so a server that ignores the
    parameter is not left generating. Each piece kept is reported to the run
    (``rlm_core.report_piece``), which streams the answer from the call that writes
    it. ``preamble`` (system text and earlier turns
    of a conversation) is added to every call; use it for the root model only.
    The model keeps its own temperature.
    """

    def __init__(
        self,
        llm: BaseChatModel,
        *,
        config: RunnableConfig | None = None,
        bind_max_tokens: bool | None = None,
        context_window: int | None = None,
        preamble: Preamble | None = None,
    ) -> None:
        self.llm = for_local_server(require_chat_model(llm))
        self.config = config
        self.cap_parameter = cap_parameter_of(self.llm) or "max_tokens"
        self.bind_max_tokens = (
            supports_max_tokens(self.llm) if bind_max_tokens is None else bool(bind_max_tokens)
        )
        if context_window is not None and (
            isinstance(context_window, bool)
            or not isinstance(context_window, int)
            or context_window < 1
        ):
            raise ValueError(f"context_window must be a positive int, got {context_window!r}")
        self.context_window = (
            context_window if context_window is not None else declared_window(self.llm)
        )
        self.preamble = preamble or Preamble()
        self.model_id = model_name_of(self.llm)

    def with_config(
        self, config: RunnableConfig | None, *, preamble: Preamble | None = None
    ) -> ChatModelAdapter:
        """The same model, with every call made under ``config`` (e.g. a parent run's)."""
        return ChatModelAdapter(
            self.llm,
            config=config,
            bind_max_tokens=self.bind_max_tokens,
            context_window=self.context_window,
            preamble=preamble if preamble is not None else self.preamble,
        )

    def _runnable(self, max_tokens: int) -> Runnable[Any, BaseMessage]:
        if self.bind_max_tokens:
            return self.llm.bind(**{self.cap_parameter: max_tokens})
        return self.llm

    def _messages(self, messages: list[dict[str, str]]) -> list[BaseMessage]:
        return self.preamble.apply(to_langchain_messages(messages))

    def complete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        reply = CappedReply(max_tokens)
        stream = self._runnable(max_tokens).stream(self._messages(messages), config=self.config)
        try:
            for piece in stream:
                if reply.add(piece):
                    break
                report_piece(str(piece.text))
        finally:
            stream.close()  # type: ignore[attr-defined]
        return self._response(reply, messages)

    async def acomplete(
        self,
        messages: list[dict[str, str]],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse:
        reply = CappedReply(max_tokens)
        stream = self._runnable(max_tokens).astream(self._messages(messages), config=self.config)
        try:
            async for piece in stream:
                if reply.add(piece):
                    break
                report_piece(str(piece.text))
        finally:
            await stream.aclose()  # type: ignore[attr-defined]
        return self._response(reply, messages)

    def _response(self, reply: CappedReply, messages: list[dict[str, str]]) -> ModelResponse:
        merged = reply.message()
        metadata = getattr(merged, "response_metadata", None) or {}
        model = metadata.get("model_name") or metadata.get("model") or self.model_id
        usage = usage_of(merged, messages, reply.text)
        if reply.stopped:  # the server's count (if any) never arrived: count what was kept
            usage = Usage(usage.prompt_tokens, tokens_in(reply.text, reply.text_chunks))
        return ModelResponse(text=reply.text, usage=usage, model=str(model))

    def __repr__(self) -> str:
        return f"ChatModelAdapter({self.model_id!r})"


def declared_window(llm: BaseChatModel) -> int | None:
    """The context window the chat model declares: its model profile's
    ``max_input_tokens``, else an ``n_ctx`` (llama.cpp) or ``num_ctx`` (Ollama) field."""
    profile = getattr(llm, "profile", None)
    candidates = [profile.get("max_input_tokens") if isinstance(profile, dict) else None]
    candidates += [getattr(llm, name, None) for name in ("n_ctx", "num_ctx")]
    for value in candidates:
        if isinstance(value, int) and not isinstance(value, bool) and value > 0:
            return value
    return None
