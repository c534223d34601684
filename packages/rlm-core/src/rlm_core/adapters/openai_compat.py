"""Adapter for OpenAI and every server that speaks its chat-completions API."""

from __future__ import annotations

import os
from typing import ClassVar, Unpack

from rlm_core.adapters.http import ChatOptions, GenericChatAdapter

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
API_KEY_ENV_VARS = ("LLM_API_KEY", "OPENAI_API_KEY")
BASE_URL_ENV_VAR = "LLM_BASE_URL"


def env_value(name: str) -> str | None:
    """An environment variable's value, or ``None`` when unset or blank."""
    value = os.environ.get(name, "").strip()
    return value or None


def resolve_api_key(api_key: str | None = None) -> str | None:
    """``api_key``, else ``LLM_API_KEY``, else ``OPENAI_API_KEY``, else ``None``."""
    if api_key:
        return api_key
    for name in API_KEY_ENV_VARS:
        value = env_value(name)
        if value:
            return value
    return None


def resolve_base_url(base_url: str | None = None) -> str:
    """``base_url``, else ``LLM_BASE_URL``, else the OpenAI API."""
    return base_url or env_value(BASE_URL_ENV_VAR) or DEFAULT_OPENAI_BASE_URL


class OpenAICompatAdapter(GenericChatAdapter):
    """OpenAI, vLLM, Ollama, LM Studio or any OpenAI-compatible endpoint.

    The key comes from ``api_key``, ``LLM_API_KEY`` or ``OPENAI_API_KEY`` and is
    sent as ``Authorization: Bearer <key>``; without one (local servers) no
    ``Authorization`` header is sent. The server is ``base_url``, ``LLM_BASE_URL``
    or ``https://api.openai.com/v1``. Other options are those of
    ``GenericChatAdapter``.
    """

    auth_hint: ClassVar[str] = (
        "check the API key: pass api_key=... or set LLM_API_KEY or OPENAI_API_KEY"
    )

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key: str | None = None,
        **options: Unpack[ChatOptions],
    ) -> None:
        super().__init__(
            resolve_base_url(base_url),
            "/chat/completions",
            model=model,
            api_key=resolve_api_key(api_key),
            **options,
        )
