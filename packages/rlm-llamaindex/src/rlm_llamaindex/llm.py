"""Any LlamaIndex ``LLM`` as an rlm-core model adapter (root or sub-model)."""

from __future__ import annotations

import asyncio
import gc
import inspect
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.generic_utils import (
    messages_to_prompt as generic_messages_to_prompt,
)
from llama_index.core.base.llms.types import (
    ChatMessage,
    ChatResponse,
    CompletionResponse,
    MessageRole,
)
from llama_index.core.llms import LLM, CustomLLM

from rlm_core import AdapterError, ConfigError, ModelResponse, Usage, report_piece
from rlm_llamaindex.local_server import for_local_server

_ROLES = {
    "system": MessageRole.SYSTEM,
    "user": MessageRole.USER,
    "assistant": MessageRole.ASSISTANT,
}
# (prompt, completion) key pairs used by providers, most common first.
_USAGE_KEYS = (
    ("prompt_tokens", "completion_tokens"),  # OpenAI and compatible servers
    ("input_tokens", "output_tokens"),  # Anthropic, OpenAI responses API
    ("prompt_token_count", "candidates_token_count"),  # Gemini usage_metadata
    ("prompt_eval_count", "eval_count"),  # Ollama
)


def runs_an_rlm(llm: Any) -> bool:
    """Whether ``llm`` is an ``RLMLLM`` (its class says ``runs_an_rlm``; this module cannot
    import it, ``rlm_llm`` builds on this one)."""
    return getattr(type(llm), "runs_an_rlm", False) is True


def resolve_llm(llm: Any, *, name: str = "llm") -> LLM:
    """``llm`` itself, or ``Settings.llm`` when it is ``None``; a clear error otherwise,
    also for an ``RLMLLM`` (an RLM whose every model call would be a whole RLM run)."""
    if runs_an_rlm(llm):
        raise ConfigError(
            f"{name} must be the model that writes code, not an RLMLLM (every model call "
            f"would be a whole RLM run): pass the LLM the RLMLLM wraps as {name}=..."
        )
    if llm is None:
        from llama_index.core import Settings

        try:
            llm = Settings.llm
        except Exception as error:  # Settings tries to build a default OpenAI LLM
            raise ConfigError(
                f"no LLM configured: pass {name}=... or set Settings.llm "
                f"(LlamaIndex could not build its default LLM: {error})"
            ) from error
        if llm is None:
            raise ConfigError(f"no LLM configured: pass {name}=... or set Settings.llm")
        if runs_an_rlm(llm):
            raise ConfigError(
                f"Settings.llm is an RLMLLM, and {name} defaults to Settings.llm: an RLM needs "
                f"the model that writes code, not an RLMLLM (every model call would be a whole "
                f"RLM run). Pass {name}=<that LLM> (e.g. the one given to RLMLLM(llm=...))"
            )
    if isinstance(llm, LlamaIndexLLMAdapter):
        return llm.llm
    if not isinstance(llm, LLM):
        raise ConfigError(
            f"{name} must be a LlamaIndex LLM (llama_index.core.llms.LLM), got "
            f"{type(llm).__name__}; wrap other chat models in a LlamaIndex LLM class first"
        )
    return llm


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def _get(source: Any, key: str) -> Any:
    if isinstance(source, Mapping):
        return source.get(key)
    return getattr(source, key, None)


def _pair(source: Any) -> Usage | None:
    if source is None:
        return None
    for prompt_key, completion_key in _USAGE_KEYS:
        prompt = _int(_get(source, prompt_key))
        completion = _int(_get(source, completion_key))
        if prompt is not None or completion is not None:
            return Usage(prompt_tokens=prompt or 0, completion_tokens=completion or 0)
    return None


def usage_of(response: ChatResponse | CompletionResponse) -> Usage:
    """Token usage reported by the provider, or zero usage when it reported none.

    Looks in ``response.additional_kwargs`` (where the OpenAI integration puts
    it), then in ``response.raw`` and its ``usage`` / ``usage_metadata`` part.
    """
    found = _pair(response.additional_kwargs)
    if found is not None:
        return found
    raw = response.raw
    for source in (_get(raw, "usage"), _get(raw, "usage_metadata"), raw):
        if source is not None and not isinstance(source, str | bytes):
            found = _pair(source)
            if found is not None:
                return found
    return Usage()


def to_chat_messages(messages: Sequence[Mapping[str, str]]) -> list[ChatMessage]:
    """Core ``{"role", "content"}`` dicts as LlamaIndex ``ChatMessage`` objects."""
    converted = []
    for index, message in enumerate(messages):
        role = _ROLES.get(str(message.get("role", "")))
        if role is None:
            raise AdapterError(
                f"message {index} has role {message.get('role')!r}; "
                "expected 'system', 'user' or 'assistant'"
            )
        converted.append(ChatMessage(role=role, content=str(message.get("content", ""))))
    return converted


# A streamed call is stopped once it produced more pieces than its cap, or more characters
# than this many per token of the cap (for providers that send several tokens per piece).
MAX_CHARS_PER_TOKEN = 16
# Event-loop turns allowed for an abandoned async stream's generators to close (the
# OpenAI integration needs four) before the garbage collector finalizes its response.
FINALIZER_TURNS = 10


def _sets_own(llm: LLM, name: str) -> bool:
    """Whether the user configured ``name`` on the LLM itself (then it is not overridden).

    Some constructors pass every default on explicitly (``OpenAI`` and ``OpenAILike`` set
    ``temperature=0.1`` that way), so a value equal to the field's default does not count.
    """
    value = getattr(llm, name, None)
    if name not in llm.model_fields_set or value is None:
        return False
    field = type(llm).model_fields.get(name)
    return field is None or value != field.default


def text_of(response: ChatResponse | CompletionResponse) -> str:
    """The whole reply text of a chat or completion response."""
    if isinstance(response, CompletionResponse):
        return response.text or ""
    return response.message.content or ""


class _Collector:
    """Joins the pieces of a streamed reply and tells when the call ran past its cap."""

    def __init__(self, max_tokens: int) -> None:
        self.max_tokens = max_tokens
        self.pieces: list[str] = []
        self.chars = 0
        self.saw_delta = False
        self.last: ChatResponse | CompletionResponse | None = None
        self.cut = False

    def add(self, chunk: Any) -> bool:
        """Take one chunk; False once the call is past its cap and must be stopped."""
        if not isinstance(chunk, ChatResponse | CompletionResponse):
            raise AdapterError(
                f"the LLM's stream yielded {type(chunk).__name__}, not a ChatResponse or "
                "CompletionResponse"
            )
        self.last = chunk
        piece = chunk.delta
        if piece is None:
            return True
        self.saw_delta = True
        if not piece:
            return True
        over = len(self.pieces) >= self.max_tokens
        if over or self.chars + len(piece) > self.max_tokens * MAX_CHARS_PER_TOKEN:
            self.cut = True  # a piece past the cap: the LLM ignored max_tokens
            return False
        self.pieces.append(piece)
        self.chars += len(piece)
        report_piece(piece)
        return True

    def release(self) -> None:
        """Make sure the HTTP stream of a call that was cut is closed now.

        Closing the LLM's generator does not close its connection when the provider
        keeps the response in a reference cycle: the OpenAI integration iterates an
        ``openai.Stream``, which references itself through its own iterator, so its
        response is only closed by the garbage collector, and the server goes on
        generating until then. A collection now finalizes the abandoned stream (only
        calls past their cap pay for it).
        """
        if self.cut:
            gc.collect()

    async def arelease(self) -> None:
        """``release`` for async streams. Closing an async generator chain takes a few
        event-loop turns (each abandoned inner generator is closed by a task the loop
        schedules), so the collection runs once those turns have passed."""
        if self.cut:
            for _ in range(FINALIZER_TURNS):
                await asyncio.sleep(0)
            gc.collect()

    def response(self, model: str | None) -> ModelResponse:
        if self.last is None:
            return ModelResponse(text="", model=model)
        text = "".join(self.pieces) if self.saw_delta else text_of(self.last)
        return ModelResponse(text=text, usage=usage_of(self.last), model=model)


async def _as_async(stream: Iterator[Any]) -> AsyncIterator[Any]:
    """A sync stream as an async one; closing it closes the sync stream."""
    try:
        for chunk in stream:
            yield chunk
    finally:
        close = getattr(stream, "close", None)
        if close is not None:
            close()


class LlamaIndexLLMAdapter:
    """Drives a LlamaIndex ``LLM`` for rlm-core (root or sub-model).

    ``forward_limits`` (default on) passes the run's ``max_tokens`` and
    ``temperature`` with every call, except a limit the LLM was configured with
    itself (``OpenAI(max_tokens=..., temperature=...)`` keeps its own values).
    ``stream_calls`` (default on) streams every call and stops reading once it
    runs past ``max_tokens``, so a call stays bounded even when the LLM or its
    server ignores the limit; closing the stream closes the connection, which
    makes servers such as llama.cpp stop generating. With ``stream_calls=False``
    calls go through ``chat`` / ``achat`` and the limit is the server's to honour.
    An LLM that is not a chat model (``metadata.is_chat_model`` false, e.g. a ``CustomLLM``)
    is driven as LlamaIndex's ``LLM.predict`` / ``stream`` drive it: ``complete`` /
    ``stream_complete`` with the messages formatted by its ``messages_to_prompt`` (its
    ``chat`` would call those itself and report every call twice). The async methods a
    ``CustomLLM`` inherits only run its sync ones, so the adapter calls those directly.
    The adapter never retries, and an OpenAI-family LLM pointed at a server on this
    machine is used with its retries off (a retry queues a second generation behind the
    abandoned one; see ``local_server``); elsewhere the LLM's own ``max_retries`` /
    ``timeout`` apply.
    """

    def __init__(
        self, llm: Any = None, *, forward_limits: bool = True, stream_calls: bool = True
    ) -> None:
        self.llm = for_local_server(resolve_llm(llm))
        self.forward_limits = bool(forward_limits)
        self.stream_calls = bool(stream_calls)
        metadata = self.llm.metadata
        self.model = metadata.model_name if metadata.model_name != "unknown" else None
        self.model_id = self.model or self.llm.class_name()
        self.chat_model = bool(metadata.is_chat_model)
        # Which of CustomLLM's async completion methods the LLM keeps (see _inherits): fixed
        # by its class, so worked out once rather than on every call.
        self._sync_instead = {
            method: self._inherits(method) for method in ("acomplete", "astream_complete")
        }
        window = metadata.context_window
        self.context_window: int | None = window if isinstance(window, int) and window > 0 else None

    def _kwargs(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        if not self.forward_limits:
            return {}
        kwargs: dict[str, Any] = {}
        if not _sets_own(self.llm, "max_tokens"):
            kwargs["max_tokens"] = max_tokens
        if not _sets_own(self.llm, "temperature"):
            kwargs["temperature"] = temperature
        return kwargs

    def _response(self, response: Any) -> ModelResponse:
        if not isinstance(response, ChatResponse | CompletionResponse):
            method = "chat" if self.chat_model else "complete"
            raise AdapterError(
                f"{type(self.llm).__name__}.{method} returned {type(response).__name__}, "
                "not a ChatResponse or CompletionResponse"
            )
        return ModelResponse(text=text_of(response), usage=usage_of(response), model=self.model)

    def _inherits(self, method: str) -> bool:
        """Whether the LLM uses ``CustomLLM``'s async ``method``, which runs the sync one on
        the event loop and reports the call a second time; the adapter then calls the sync
        one itself (the same work on the loop, reported once)."""
        if not isinstance(self.llm, CustomLLM):
            return False
        # LlamaIndex wraps each class's methods (spans, callbacks): compare what is inside.
        own = inspect.unwrap(getattr(type(self.llm), method))
        return own is inspect.unwrap(getattr(CustomLLM, method))

    def _prompt(self, chat: list[ChatMessage]) -> str:
        """The messages as one prompt, for an LLM that is not a chat model."""
        to_prompt = self.llm.messages_to_prompt or generic_messages_to_prompt
        return to_prompt(chat)

    def _rejected(self, error: TypeError) -> AdapterError:
        return AdapterError(
            f"{type(self.llm).__name__} rejected the per-call limits ({error}); build the "
            "adapter with forward_limits=False and set max_tokens / temperature on the LLM"
        )

    def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        """One model call; returns the reply text and the usage the provider reported."""
        chat = to_chat_messages(messages)
        kwargs = self._kwargs(max_tokens, temperature)
        try:
            stream: Any
            if not self.chat_model:
                prompt = self._prompt(chat)
                if not self.stream_calls:
                    return self._response(self.llm.complete(prompt, formatted=True, **kwargs))
                stream = self.llm.stream_complete(prompt, formatted=True, **kwargs)
            elif not self.stream_calls:
                return self._response(self.llm.chat(chat, **kwargs))
            else:
                stream = self.llm.stream_chat(chat, **kwargs)
        except TypeError as error:
            if kwargs and any(name in str(error) for name in kwargs):
                raise self._rejected(error) from error
            raise
        collector = _Collector(max_tokens)
        try:
            for chunk in stream:
                if not collector.add(chunk):
                    break
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()
            collector.release()
        return collector.response(self.model)

    async def acomplete(
        self, messages: list[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        """``complete`` through the LLM's native async methods (``achat`` / ``astream_chat``,
        or ``acomplete`` / ``astream_complete`` for a model that is not a chat model)."""
        chat = to_chat_messages(messages)
        kwargs = self._kwargs(max_tokens, temperature)
        try:
            stream: Any
            if not self.chat_model:
                prompt = self._prompt(chat)
                if not self.stream_calls:
                    if self._sync_instead["acomplete"]:  # CustomLLM's acomplete calls complete
                        return self._response(self.llm.complete(prompt, formatted=True, **kwargs))
                    return self._response(
                        await self.llm.acomplete(prompt, formatted=True, **kwargs)
                    )
                if self._sync_instead["astream_complete"]:  # it iterates stream_complete
                    stream = _as_async(self.llm.stream_complete(prompt, formatted=True, **kwargs))
                else:
                    stream = await self.llm.astream_complete(prompt, formatted=True, **kwargs)
            elif not self.stream_calls:
                return self._response(await self.llm.achat(chat, **kwargs))
            else:
                stream = await self.llm.astream_chat(chat, **kwargs)
        except TypeError as error:
            if kwargs and any(name in str(error) for name in kwargs):
                raise self._rejected(error) from error
            raise
        collector = _Collector(max_tokens)
        try:
            async for chunk in stream:
                if not collector.add(chunk):
                    break
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
            await collector.arelease()
        return collector.response(self.model)

    def __repr__(self) -> str:
        return f"LlamaIndexLLMAdapter({self.model_id!r})"
