"""The OpenAI chat-completions wire format: request bodies and reply parsing."""

from __future__ import annotations

import math
from typing import Any

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.errors import AdapterError


def build_openai_payload(
    messages: list[Message], model: str, max_tokens: int, temperature: float
) -> dict[str, Any]:
    """The default request body: the OpenAI chat-completions format."""
    return {
        "model": model,
        "messages": messages,
        "max_tokens": max_tokens,
        "temperature": temperature,
    }


def parse_openai_response(data: Any) -> ModelResponse:
    """Read ``choices[0].message.content`` and ``usage`` from an OpenAI-style reply."""
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
    content = message.get("content")
    if content is not None and not isinstance(content, str):
        raise AdapterError(
            "expected 'choices[0].message.content' to be a string or null, "
            f"got a JSON {type(content).__name__}"
        )
    model = data.get("model")
    return ModelResponse(
        text=content or "",
        usage=_parse_usage(data.get("usage")),
        model=model if isinstance(model, str) and model else None,
    )


def _parse_usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
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
