"""OpenAI-family LLMs pointed at a server on this machine: no retries that queue generations.

A local server (llama.cpp, Ollama, vLLM on 127.0.0.1) works through one request at a
time. When the client gives up on a slow call and retries, the retry waits behind the
abandoned generation, and the next retry behind both: with LlamaIndex's OpenAI classes (3
retries, a 60 s timeout) that kept a shared server busy for most of an hour in a field
report. The RLM therefore uses a copy of such an LLM with retries off and, when the timeout
was left at the class default, a timeout long enough for a CPU server to read a long prompt.
The copy builds its own clients (``reuse_client=False``), so no client made with the old
settings is shared.
"""

from __future__ import annotations

from typing import Any

from llama_index.core.llms import LLM

from rlm_core.adapters import LOCAL_SERVER_TIMEOUT_S, is_local_url

LOCAL_TIMEOUT_S = LOCAL_SERVER_TIMEOUT_S
"""Seconds a call to a local server may take when the LLM kept its default timeout."""


def _at_class_default(llm: LLM, name: str) -> bool:
    field = type(llm).model_fields.get(name)
    return field is not None and getattr(llm, name, None) == field.default


def for_local_server(llm: LLM) -> LLM:
    """``llm``, or for an OpenAI-family LLM whose ``api_base`` is on this machine, a copy
    that does not retry (and waits up to ``LOCAL_TIMEOUT_S`` unless told otherwise)."""
    base = getattr(llm, "api_base", None)
    fields = type(llm).model_fields
    if not isinstance(base, str) or not is_local_url(base) or "max_retries" not in fields:
        return llm
    update: dict[str, Any] = {}
    if getattr(llm, "max_retries", 0):
        update["max_retries"] = 0
    timeout = getattr(llm, "timeout", None)
    if (
        "timeout" in fields
        and _at_class_default(llm, "timeout")
        and isinstance(timeout, int | float)
        and timeout < LOCAL_TIMEOUT_S
    ):
        update["timeout"] = LOCAL_TIMEOUT_S
    if not update:
        return llm
    if "reuse_client" in fields:
        update["reuse_client"] = False
    return llm.model_copy(update=update)
