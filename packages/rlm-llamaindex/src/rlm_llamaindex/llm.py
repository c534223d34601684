"""Any LlamaIndex ``LLM`` as an rlm-core model adapter (root or sub-model)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from llama_index.core.base.llms.types import ChatMessage, ChatResponse, MessageRole
from llama_index.core.llms import LLM

from rlm_core.adapters.base import ModelResponse, Usage
from rlm_core.errors import AdapterError, ConfigError

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


def resolve_llm(llm: Any, *, name: str = "llm") -> LLM:
    """``llm`` itself, or ``Settings.llm`` when it is ``None``; a clear error otherwise."""
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


def usage_of(response: ChatResponse) -> Usage:
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


class LlamaIndexLLMAdapter:
    """Drives a LlamaIndex ``LLM`` through ``chat`` / ``achat`` for rlm-core.

    ``forward_limits=True`` passes the engine's ``max_tokens`` and
    ``temperature`` to every call as keyword arguments; by default the LLM's own
    settings apply (not every LlamaIndex LLM accepts those keywords per call).
    """

    def __init__(self, llm: Any = None, *, forward_limits: bool = False) -> None:
        self.llm = resolve_llm(llm)
        self.forward_limits = bool(forward_limits)
        metadata = self.llm.metadata
        self.model = metadata.model_name if metadata.model_name != "unknown" else None
        self.model_id = self.model or self.llm.class_name()
        window = metadata.context_window
        self.context_window: int | None = window if isinstance(window, int) and window > 0 else None

    def _kwargs(self, max_tokens: int, temperature: float) -> dict[str, Any]:
        if not self.forward_limits:
            return {}
        return {"max_tokens": max_tokens, "temperature": temperature}

    def _response(self, response: Any) -> ModelResponse:
        if not isinstance(response, ChatResponse):
            raise AdapterError(
                f"{type(self.llm).__name__}.chat returned {type(response).__name__}, "
                "not a ChatResponse"
            )
        text = response.message.content or ""
        return ModelResponse(text=text, usage=usage_of(response), model=self.model)

    def complete(
        self, messages: list[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        """One chat call; returns the reply text and the usage the provider reported."""
        chat = to_chat_messages(messages)
        return self._response(self.llm.chat(chat, **self._kwargs(max_tokens, temperature)))

    async def acomplete(
        self, messages: list[dict[str, str]], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        """``complete`` through the LLM's native ``achat``."""
        chat = to_chat_messages(messages)
        response = await self.llm.achat(chat, **self._kwargs(max_tokens, temperature))
        return self._response(response)

    def __repr__(self) -> str:
        return f"LlamaIndexLLMAdapter({self.model_id!r})"
