"""Token estimates and model context windows."""

from __future__ import annotations

import functools
from collections.abc import Callable

# Context windows (tokens) of well-known model families, matched by prefix of the model id,
# longest prefix first. Adapters may also expose ``context_window`` directly.
_KNOWN_WINDOWS: dict[str, int] = {
    "gpt-5": 400_000,
    "gpt-4.1": 1_047_576,
    "gpt-4o": 128_000,
    "gpt-4-turbo": 128_000,
    "gpt-4": 8_192,
    "gpt-3.5-turbo": 16_385,
    "o1": 200_000,
    "o3": 200_000,
    "o4": 200_000,
    "claude": 200_000,
    "gemini": 1_048_576,
    "llama3": 8_192,
    "llama-3": 8_192,
    "qwen2.5": 32_768,
    "mistral": 32_768,
}


@functools.cache
def _tiktoken_counter() -> Callable[[str], int] | None:
    try:
        import tiktoken
    except ImportError:
        return None
    try:
        encoding = tiktoken.get_encoding("cl100k_base")
    except Exception:  # encoding files unavailable offline
        return None
    return lambda text: len(encoding.encode(text, disallowed_special=()))


def count_tokens(text: str) -> int:
    """Tokens in ``text``: tiktoken's cl100k when installed, else ``len(text) // 4``."""
    counter = _tiktoken_counter()
    if counter is not None:
        return counter(text)
    return len(text) // 4


def estimate_tokens(text: str) -> int:
    """A cheap upper-bound-ish estimate used on hot paths (never calls a tokenizer)."""
    return len(text) // 3 + 1


def context_window_for(model_id: str) -> int | None:
    """The window of a known model id, or ``None`` when unknown."""
    name = model_id.lower().rsplit("/", 1)[-1]
    for prefix in sorted(_KNOWN_WINDOWS, key=len, reverse=True):
        if name.startswith(prefix):
            return _KNOWN_WINDOWS[prefix]
    return None


def context_window_of(adapter: object, override: int | None = None) -> int | None:
    """``override``, else the adapter's ``context_window``, else the known-model table."""
    if override is not None:
        return override
    declared = getattr(adapter, "context_window", None)
    if isinstance(declared, int) and declared > 0:
        return declared
    from rlm_core.adapters.base import model_id_of

    return context_window_for(model_id_of(adapter))
