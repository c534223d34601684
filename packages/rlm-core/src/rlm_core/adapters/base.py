"""The adapter contract: how the engine talks to any chat model."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import Mapping
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


@dataclass(frozen=True, slots=True, init=False)
class ModelResponse:
    """What an adapter returns: the reply text, its token usage, the model that answered and
    any provider details (``meta``, not compared by ``==``).

    The model may be given as ``model`` or, as pyrlm-runtime adapters do, ``model_id``;
    ``response.model_id`` reads it back either way.
    """

    text: str
    usage: Usage
    model: str | None
    meta: dict[str, Any] = field(compare=False)

    def __init__(
        self,
        text: str,
        usage: Usage | None = None,
        model: str | None = None,
        meta: Mapping[str, Any] | None = None,
        *,
        model_id: str | None = None,
    ) -> None:
        if model_id is not None:
            if model is not None and model != model_id:
                raise ValueError(
                    f"ModelResponse got model={model!r} and model_id={model_id!r}; "
                    "they name the same thing: pass one of them"
                )
            model = model_id
        object.__setattr__(self, "text", text)
        object.__setattr__(self, "usage", Usage() if usage is None else usage)
        object.__setattr__(self, "model", model)
        object.__setattr__(self, "meta", dict(meta) if meta is not None else {})

    @property
    def model_id(self) -> str | None:
        """The model that answered (the same as ``model``)."""
        return self.model


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
    if not isinstance(response.usage, Usage):
        raise AdapterError(
            f"{type(adapter).__name__} returned a ModelResponse whose usage is "
            f"{type(response.usage).__name__}; pass usage=rlm_core.Usage(prompt_tokens=..., "
            "completion_tokens=...) or leave it out"
        )
    return response
