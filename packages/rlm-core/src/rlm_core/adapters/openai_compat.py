"""Adapter for OpenAI and every server that speaks its chat-completions API."""

from __future__ import annotations

import os
from typing import ClassVar, Unpack

from rlm_core.adapters import _http_checks
from rlm_core.adapters._openai_format import TOKEN_LIMIT_PARAMS, OpenAIPayload, TokenLimitParam
from rlm_core.adapters.http import ChatOptions, GenericChatAdapter
from rlm_core.errors import ConfigError

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


def openai_payload_options(
    options: ChatOptions,
    *names: str | None,
    token_limit_param: TokenLimitParam | None,
    send_temperature: bool | None,
    default_token_limit_param: TokenLimitParam | None = None,
    model_in_body: bool | str = True,
) -> ChatOptions:
    """``options`` with the OpenAI body builder that fits the model ``names``.

    Reasoning models (o1/o3/o4, gpt-5 families) get ``max_completion_tokens``
    and no ``temperature``; explicit ``token_limit_param`` / ``send_temperature``
    win. ``model_in_body`` may name the model to send instead of the adapter's.
    A caller's own ``payload_builder`` is kept, and combining it with
    those two options is refused because they would have no effect.
    """
    _http_checks.check_choice("token_limit_param", token_limit_param, TOKEN_LIMIT_PARAMS)
    _http_checks.check_optional_flag("send_temperature", send_temperature)
    if options.get("payload_builder") is not None:
        if token_limit_param is not None or send_temperature is not None:
            raise ConfigError(
                "token_limit_param and send_temperature shape the built-in request body; "
                "with a custom payload_builder set those fields in the builder instead"
            )
        return options
    builder = OpenAIPayload.for_model(
        *names,
        token_limit_param=token_limit_param or default_token_limit_param,
        send_temperature=send_temperature,
        model_in_body=model_in_body,
    )
    return {**options, "payload_builder": builder}


class OpenAICompatAdapter(GenericChatAdapter):
    """OpenAI, vLLM, Ollama, LM Studio or any OpenAI-compatible endpoint.

    The key comes from ``api_key``, ``LLM_API_KEY`` or ``OPENAI_API_KEY`` and is
    sent as ``Authorization: Bearer <key>``; without one (local servers) no
    ``Authorization`` header is sent. The server is ``base_url``, ``LLM_BASE_URL``
    or ``https://api.openai.com/v1``.

    Reasoning models (``o1``, ``o3``, ``o4-mini``, ``gpt-5``, ``gpt-5.1``, ...)
    are sent ``max_completion_tokens`` instead of ``max_tokens`` and no
    ``temperature``, which they reject; ``token_limit_param`` and
    ``send_temperature`` override that choice. Other options are those of
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
        *,
        token_limit_param: TokenLimitParam | None = None,
        send_temperature: bool | None = None,
        **options: Unpack[ChatOptions],
    ) -> None:
        options = openai_payload_options(
            options,
            model,
            token_limit_param=token_limit_param,
            send_temperature=send_temperature,
        )
        super().__init__(
            resolve_base_url(base_url),
            "/chat/completions",
            model=model,
            api_key=resolve_api_key(api_key),
            **options,
        )
