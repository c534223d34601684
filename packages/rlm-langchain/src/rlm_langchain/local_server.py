"""OpenAI-family chat models pointed at a server on this machine: no retries that queue
generations.

A local server (llama.cpp, Ollama, vLLM on 127.0.0.1) works through one request at a
time. ``ChatOpenAI`` keeps the ``openai`` client's defaults unless told otherwise: two
retries and a 600 s read timeout. When a call times out, the retry waits behind the
abandoned generation, and the next one behind both. The RLM therefore drives a copy of such
a model whose clients do not retry and, when no timeout was chosen, wait
``LOCAL_SERVER_TIMEOUT_S``. The copy's clients come from the user's own clients
(``with_options``), so their HTTP clients, headers and keys are kept, and the user's object
is left as it was.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from rlm_core.adapters import LOCAL_SERVER_TIMEOUT_S, is_local_url

_CLIENTS = (("root_client", "client"), ("root_async_client", "async_client"))
"""(the ``openai`` client, its ``chat.completions`` resource) attribute pairs."""


def _client_settings(llm: BaseChatModel) -> dict[str, Any] | None:
    """The client settings ``llm`` should use against a local server, or ``None`` when it
    is not an OpenAI-family model with a local base URL or already uses them."""
    base = getattr(llm, "openai_api_base", None)
    if not isinstance(base, str) or not is_local_url(base):
        return None
    if not hasattr(llm, "max_retries") or not hasattr(llm, "request_timeout"):
        return None
    timeout = llm.request_timeout
    settings: dict[str, Any] = {
        "max_retries": 0,
        "timeout": LOCAL_SERVER_TIMEOUT_S if timeout is None else timeout,
    }
    if llm.max_retries == 0 and timeout is not None:
        return None
    return settings


def for_local_server(llm: BaseChatModel) -> BaseChatModel:
    """``llm``, or for an OpenAI-family chat model whose base URL is on this machine, a copy
    that does not retry (and waits up to ``LOCAL_SERVER_TIMEOUT_S`` unless told otherwise)."""
    settings = _client_settings(llm)
    if settings is None:
        return llm
    clients = [(getattr(llm, root, None), root, resource) for root, resource in _CLIENTS]
    if any(client is not None and not hasattr(client, "with_options") for client, _, _ in clients):
        return llm  # clients of an unknown kind: leave the model as the user built it
    copy = llm.model_copy(
        update={"max_retries": 0, "request_timeout": settings["timeout"]}, deep=False
    )
    for client, root, resource in clients:
        if client is not None:
            local = client.with_options(**settings)
            setattr(copy, root, local)
            setattr(copy, resource, local.chat.completions)
    return copy
