"""The OpenAI chat-completions wire format: request bodies and reply parsing."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.errors import AdapterError

TokenLimitParam = Literal["max_tokens", "max_completion_tokens"]
TOKEN_LIMIT_PARAMS: tuple[TokenLimitParam, ...] = ("max_tokens", "max_completion_tokens")

# OpenAI's reasoning families (o1, o3, o4-mini, gpt-5, gpt-5.1, ...): they reject ``max_tokens``
# and accept only the default temperature. A provider prefix such as ``openai/`` is ignored.
_REASONING_MODEL = re.compile(r"^(o[1-9]\d*(-.*)?|gpt-5.*)$")

# Content parts that carry a model's hidden reasoning rather than its answer.
_REASONING_PART_WORDS = ("reasoning", "thinking")


def is_reasoning_model(name: str | None) -> bool:
    """Whether ``name`` is an OpenAI reasoning model (o1/o3/o4 or gpt-5 families)."""
    if not isinstance(name, str) or not name:
        return False
    return bool(_REASONING_MODEL.match(name.strip().lower().rsplit("/", 1)[-1]))


@dataclass(frozen=True, slots=True)
class OpenAIPayload:
    """Builds an OpenAI chat-completions request body.

    ``token_limit_param`` names the output-length field (reasoning models want
    ``max_completion_tokens``); ``send_temperature=False`` leaves the
    temperature to the server's default (reasoning models reject any other);
    ``model_in_body=False`` omits ``model`` (Azure deployment URLs name it), and
    a string sends that name instead of the adapter's model.
    """

    token_limit_param: TokenLimitParam = "max_tokens"
    send_temperature: bool = True
    model_in_body: bool | str = True

    @classmethod
    def for_model(
        cls,
        *names: str | None,
        token_limit_param: TokenLimitParam | None = None,
        send_temperature: bool | None = None,
        model_in_body: bool | str = True,
    ) -> OpenAIPayload:
        """The body shape ``names`` need, unless set explicitly."""
        reasoning = any(is_reasoning_model(name) for name in names)
        default_param: TokenLimitParam = "max_completion_tokens" if reasoning else "max_tokens"
        return cls(
            token_limit_param=token_limit_param or default_param,
            send_temperature=(not reasoning) if send_temperature is None else send_temperature,
            model_in_body=model_in_body,
        )

    def __call__(
        self, *, messages: list[Message], model: str, max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        payload: dict[str, Any] = {}
        if self.model_in_body:
            body_model = self.model_in_body
            payload["model"] = body_model if isinstance(body_model, str) else model
        payload["messages"] = messages
        payload[self.token_limit_param] = max_tokens
        if self.send_temperature:
            payload["temperature"] = temperature
        return payload


def build_openai_payload(
    messages: list[Message], model: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    """The default request body: the OpenAI chat-completions format."""
    return OpenAIPayload()(
        messages=messages, model=model, max_tokens=max_tokens, temperature=temperature
    )


def parse_openai_response(data: Any) -> ModelResponse:
    """Read ``choices[0].message.content`` and ``usage`` from an OpenAI-style reply.

    ``content`` may be a string, null, or a list of parts (proxies and
    Anthropic-style models); the text parts are joined with newlines and
    reasoning parts are left out.
    """
    if not isinstance(data, dict):
        raise AdapterError(
            f"expected a JSON object with a 'choices' list, got a JSON {type(data).__name__}"
        )
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices:
        raise AdapterError("expected a non-empty 'choices' list in the reply" + _error_hint(data))
    message = choices[0].get("message") if isinstance(choices[0], dict) else None
    if not isinstance(message, dict):
        raise AdapterError("expected 'choices[0].message' to be a JSON object")
    model = data.get("model")
    return ModelResponse(
        text=content_text(message.get("content")),
        usage=usage_from(data.get("usage")),
        model=model if isinstance(model, str) and model else None,
    )


def content_text(content: Any) -> str:
    """The text of a message ``content``: a string, null, or a list of parts."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(text for text in map(_part_text, content) if text)
    raise AdapterError(
        "expected 'choices[0].message.content' to be a string, a list of parts or null, "
        f"got a JSON {type(content).__name__}"
    )


def _part_text(part: Any) -> str:
    """The text of one content part (``"..."`` or ``{"type": "text", "text": "..."}``)."""
    if isinstance(part, str):
        return part
    if not isinstance(part, Mapping):
        return ""
    kind = str(part.get("type", "")).lower()
    if any(word in kind for word in _REASONING_PART_WORDS):
        return ""
    for key in ("text", "content"):
        value = part.get(key)
        if isinstance(value, str):
            return value
    return ""


def usage_from(usage: Any) -> Usage:
    """``Usage`` from an OpenAI-style ``usage`` object; missing or odd counts are 0."""
    if not isinstance(usage, Mapping):
        return Usage()
    return Usage(
        prompt_tokens=_token_count(usage.get("prompt_tokens")),
        completion_tokens=_token_count(usage.get("completion_tokens")),
    )


def _token_count(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return 0
    return max(0, int(value))


def _error_hint(data: dict[str, Any]) -> str:
    """`` (server said: ...)`` when a reply carries an OpenAI-style ``error`` object."""
    message = error_message(data)
    return f" (server said: {message})" if message else ""


def error_message(data: Any) -> str | None:
    error = data.get("error") if isinstance(data, dict) else None
    if isinstance(error, dict) and isinstance(error.get("message"), str):
        return str(error["message"])
    return error if isinstance(error, str) else None
