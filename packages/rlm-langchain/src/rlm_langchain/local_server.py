"""OpenAI-family chat models pointed at a server on this machine: no retries that queue
generations.

A local server (llama.cpp, for one) often works through one request at a time.
``ChatOpenAI`` keeps the ``openai`` client's two retries unless told otherwise, so a call
that timed out was sent again behind the abandoned generation, and the next retry behind
both. The RLM therefore drives a shallow copy of such a model whose clients do not retry.
The copy's clients come from the user's own (``with_options(max_retries=0)``), so their
timeouts, HTTP clients, headers and keys are kept; the model's fields and the user's
object are left as they were.
"""

from __future__ import annotations

from typing import Any

from langchain_core.language_models import BaseChatModel

from rlm_core.adapters import is_local_url

_CLIENTS = (("root_client", "client"), ("root_async_client", "async_client"))
"""(the ``openai`` client, its ``chat.completions`` resource) attribute pairs."""


def _base_url(llm: BaseChatModel, clients: list[Any]) -> str | None:
    """The model's base URL: its ``openai_api_base`` field, else its clients' (set from
    ``OPENAI_BASE_URL``, say)."""
    base = getattr(llm, "openai_api_base", None)
    if isinstance(base, str):
        return base
    for client in clients:
        url = getattr(client, "base_url", None)
        if url is not None:
            return str(url)
    return None


def for_local_server(llm: BaseChatModel) -> BaseChatModel:
    """``llm``, or for an OpenAI-family chat model whose base URL is on this machine and
    whose clients retry, a copy whose clients do not."""
    pairs = [(getattr(llm, root, None), root, resource) for root, resource in _CLIENTS]
    present = [(client, root, resource) for client, root, resource in pairs if client is not None]
    if not present or any(not hasattr(client, "with_options") for client, _, _ in present):
        return llm  # not built on openai clients we can copy: left as the user built it
    base = _base_url(llm, [client for client, _, _ in present])
    if base is None or not is_local_url(base):
        return llm
    if all(getattr(client, "max_retries", None) == 0 for client, _, _ in present):
        return llm
    copy = llm.model_copy(deep=False)
    for client, root, resource in present:
        local = client.with_options(max_retries=0)
        setattr(copy, root, local)
        setattr(copy, resource, local.chat.completions)
    return copy
