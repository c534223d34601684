"""Choose and build the model adapters the CLI runs with.

- ``--base-url URL`` (or ``LLM_BASE_URL``): an OpenAI-compatible endpoint; ``--model``
  names the model there.
- ``--model NAME`` alone with an API key (``LLM_API_KEY`` / ``OPENAI_API_KEY``): OpenAI.
- otherwise (no key, no URL, or ``--model path/to/file.gguf``): the embedded local model.
"""

from __future__ import annotations

from dataclasses import dataclass

import httpx

from rlm_core.adapters.base import ModelAdapter
from rlm_core.adapters.openai_compat import OpenAICompatAdapter, env_value, resolve_api_key
from rlm_core.cli._inputs import UsageError
from rlm_core.profiles import profile_for_name


class EndpointError(Exception):
    """The model endpoint could not be reached (exit code 1)."""


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What the flags ask for: a local GGUF (``model`` None = the bundled one) or an endpoint."""

    local: bool
    model: str | None
    base_url: str | None


def profile_for_choice(requested: str, choice: ModelChoice) -> str:
    """``--profile``; ``auto`` is ``small`` for a local model (it was tuned on the bundled
    one) and for an endpoint model whose name says it is small, else ``default``."""
    if requested != "auto":
        return requested
    if choice.local:
        return "small"
    fit = None if choice.model is None else profile_for_name(choice.model)
    return "default" if fit is None else fit[0].name


def choose(model: str | None, base_url: str | None) -> ModelChoice:
    """Decide between the local model and an endpoint from the flags and the environment."""
    if model is not None and model.lower().endswith(".gguf"):
        if base_url:
            raise UsageError("--model points to a .gguf file, which cannot be used with --base-url")
        return ModelChoice(True, model, None)
    url = base_url or env_value("LLM_BASE_URL")
    if url:
        if not model:
            raise UsageError(f"--base-url {url} needs --model NAME (the model served there)")
        return ModelChoice(False, model, url)
    if model and model != "local":
        if resolve_api_key() is None:
            raise UsageError(
                f"--model {model!r} needs an endpoint: pass --base-url URL for a local server, "
                "set OPENAI_API_KEY for OpenAI, or omit --model to use the embedded local model"
            )
        return ModelChoice(False, model, None)
    return ModelChoice(True, None, None)


def check_endpoint(base_url: str, timeout: float = 5.0) -> None:
    """Fail fast with a clear message when nothing answers at ``base_url``."""
    try:
        httpx.get(f"{base_url.rstrip('/')}/models", timeout=timeout)
    except httpx.HTTPError as error:
        raise EndpointError(
            f"cannot reach the model endpoint {base_url}: {type(error).__name__}: {error}; "
            "is the server running, and is --base-url right (it usually ends in /v1)?"
        ) from None


def build_adapter(
    choice: ModelChoice, *, n_ctx: int | None = None, timeout: float = 600.0, check: bool = True
) -> ModelAdapter:
    """The adapter for ``choice`` (loads the local model, or checks the endpoint)."""
    if choice.local:
        from rlm_core.adapters.llama_cpp import LlamaCppAdapter

        return LlamaCppAdapter(choice.model, n_ctx=n_ctx)
    assert choice.model is not None
    adapter = OpenAICompatAdapter(choice.model, base_url=choice.base_url, timeout=timeout)
    if check and choice.base_url:
        check_endpoint(adapter.base_url)
    if n_ctx is not None:
        adapter.context_window = n_ctx  # type: ignore[attr-defined]
    return adapter
