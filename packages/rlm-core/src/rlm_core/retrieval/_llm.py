"""One cached model call, shared by the rerankers and the query rewriter."""

from __future__ import annotations

from typing import Any

from rlm_core.adapters.base import Message, check_response, model_id_of
from rlm_core.errors import ConfigError


def check_adapter(adapter: Any) -> Any:
    if not callable(getattr(adapter, "complete", None)):
        raise ConfigError(
            f"adapter must be a model adapter with complete(messages, *, max_tokens, "
            f"temperature), got {type(adapter).__name__}"
        )
    return adapter


def check_cache(cache: Any) -> Any:
    if cache is not None and not all(hasattr(cache, m) for m in ("key_for", "get", "set")):
        raise ConfigError("cache must be a rlm_core.FileCache (or have key_for/get/set)")
    return cache


class CachedCaller:
    """Calls ``adapter.complete`` through an optional FileCache and counts the work."""

    def __init__(self, adapter: Any, cache: Any, purpose: str) -> None:
        self.adapter = check_adapter(adapter)
        self.cache = check_cache(cache)
        self.purpose = purpose
        self.llm_calls = 0
        self.cache_hits = 0
        self.tokens_used = 0

    def __call__(self, messages: list[Message], max_tokens: int) -> str:
        key = None
        if self.cache is not None:
            key = self.cache.key_for(
                model_id_of(self.adapter), messages, max_tokens, 0.0, purpose=self.purpose
            )
            cached = self.cache.get(key)
            if cached is not None:
                self.cache_hits += 1
                return str(cached)
        response = check_response(
            self.adapter.complete(messages, max_tokens=max_tokens, temperature=0.0), self.adapter
        )
        self.llm_calls += 1
        self.tokens_used += response.usage.total_tokens
        if key is not None:
            self.cache.set(key, response.text)
        return response.text
