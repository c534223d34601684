"""The adapter contract: how the engine talks to any chat model."""

from __future__ import annotations

import asyncio
import contextvars
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from rlm_core.errors import AdapterError
from rlm_core.usage import Usage

Message = dict[str, str]

__all__ = [
    "Message",
    "ModelAdapter",
    "ModelResponse",
    "Usage",
    "acomplete",
    "check_response",
    "model_id_of",
]


@dataclass(frozen=True, slots=True)
class ModelResponse:
    """What an adapter returns: the reply text and its token usage."""

    text: str
    usage: Usage = field(default_factory=Usage)
    model: str | None = None


@runtime_checkable
class ModelAdapter(Protocol):
    """Anything with ``complete(messages, *, max_tokens, temperature)``.

    Adapters may also define ``async def acomplete(...)`` with the same
    signature; ``arun`` uses it when present and otherwise runs ``complete``
    in a worker thread.
    """

    def complete(
        self,
        messages: list[Message],
        *,
        max_tokens: int = 512,
        temperature: float = 0.0,
    ) -> ModelResponse: ...


def model_id_of(adapter: object) -> str:
    """The model identity of an adapter: ``model_id``, ``model_name``, ``model`` or its class."""
    for attribute in ("model_id", "model_name", "model"):
        value = getattr(adapter, attribute, None)
        if isinstance(value, str) and value:
            return value
    return type(adapter).__name__


async def acomplete(
    adapter: ModelAdapter,
    messages: list[Message],
    *,
    max_tokens: int,
    temperature: float = 0.0,
) -> ModelResponse:
    """Call ``adapter.acomplete`` when it exists, else ``complete`` in a worker thread."""
    native = getattr(adapter, "acomplete", None)
    if native is not None:
        result: ModelResponse = await native(
            messages, max_tokens=max_tokens, temperature=temperature
        )
        return result
    loop = asyncio.get_running_loop()
    ctx = contextvars.copy_context()
    return await loop.run_in_executor(
        None,
        lambda: ctx.run(adapter.complete, messages, max_tokens=max_tokens, temperature=temperature),
    )


def check_response(response: Any, adapter: object) -> ModelResponse:
    """Validate what an adapter returned so a bad custom adapter fails with a clear message."""
    if not isinstance(response, ModelResponse):
        raise AdapterError(
            f"{type(adapter).__name__}.complete returned {type(response).__name__}; "
            "it must return rlm_core.adapters.ModelResponse(text=..., usage=Usage(...))"
        )
    if not isinstance(response.text, str):
        raise AdapterError(
            f"{type(adapter).__name__} returned a ModelResponse whose text is "
            f"{type(response.text).__name__}, not str"
        )
    return response
