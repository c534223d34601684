"""Calling user-supplied ``payload_builder`` / ``response_parser`` hooks safely.

Builders are called by keyword, so both argument orders in use —
``(messages, model, max_tokens, temperature)`` and pyrlm-runtime's
``(messages, max_tokens, temperature, model)`` — get the right values. A hook
whose signature cannot be called that way is refused when the adapter is built.
Parsers may return a ``ModelResponse``, the reply text, or ``(text, usage)``.
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from rlm_core.adapters._openai_format import usage_from
from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.errors import AdapterError, ConfigError

BUILDER_PARAMETERS = ("messages", "model", "max_tokens", "temperature")
_BUILDER_HELP = (
    "rlm-core passes the builder's arguments by name, so name its parameters from "
    "messages, max_tokens, temperature and model (any order; messages is required), "
    "e.g. def build(messages, max_tokens, temperature, model) -> dict"
)


@dataclass(frozen=True, slots=True)
class PayloadBuilderCall:
    """A payload builder with the argument names it accepts, called by keyword."""

    builder: Callable[..., Any]
    names: tuple[str, ...]

    def __call__(
        self, messages: list[Message], model: str, max_tokens: int, temperature: float
    ) -> Any:
        values: dict[str, Any] = {
            "messages": messages,
            "model": model,
            "max_tokens": max_tokens,
            "temperature": temperature,
        }
        return self.builder(**{name: values[name] for name in self.names})


def bind_payload_builder(builder: Callable[..., Any]) -> PayloadBuilderCall:
    """Check ``builder``'s parameters and return a keyword-calling wrapper (or ``ConfigError``)."""
    signature = _signature("payload_builder", builder, _BUILDER_HELP)
    names: list[str] = []
    takes_any_keyword = False
    for parameter in signature.parameters.values():
        if parameter.kind is inspect.Parameter.VAR_KEYWORD:
            takes_any_keyword = True
        elif parameter.kind is inspect.Parameter.VAR_POSITIONAL:
            continue
        elif parameter.name in BUILDER_PARAMETERS:
            if parameter.kind is inspect.Parameter.POSITIONAL_ONLY:
                raise ConfigError(
                    f"payload_builder takes {parameter.name!r} as a positional-only parameter; "
                    f"{_BUILDER_HELP}"
                )
            names.append(parameter.name)
        elif parameter.default is inspect.Parameter.empty:
            raise ConfigError(
                f"payload_builder has a required parameter {parameter.name!r} that rlm-core "
                f"cannot fill (signature {signature}); {_BUILDER_HELP}"
            )
    if takes_any_keyword:
        names = list(BUILDER_PARAMETERS)
    if "messages" not in names:
        raise ConfigError(
            f"payload_builder does not take a 'messages' parameter (signature {signature}); "
            f"{_BUILDER_HELP}"
        )
    return PayloadBuilderCall(builder, tuple(names))


def check_response_parser(parser: Callable[..., Any]) -> None:
    """``ConfigError`` unless ``parser`` can be called with one argument (the decoded reply)."""
    help_text = "it is called with one argument, the decoded JSON reply, e.g. def parse(data)"
    signature = _signature("response_parser", parser, help_text)
    try:
        signature.bind(None)
    except TypeError:
        raise ConfigError(
            f"response_parser cannot be called with a single argument (signature {signature}); "
            f"{help_text}"
        ) from None


def as_model_response(
    result: object, *, model: str, messages: list[Message], status: int
) -> ModelResponse:
    """A parser's result as a ``ModelResponse`` whose ``model`` is filled in.

    Accepts a ``ModelResponse``, a ``str``, or a ``(text, usage)`` pair where
    ``usage`` is a ``Usage``, an OpenAI-style mapping, or ``None`` (then it is
    estimated from the characters sent and received, ~4 per token).
    """
    if isinstance(result, ModelResponse):
        return result if result.model is not None else dataclasses.replace(result, model=model)
    if isinstance(result, str):
        return ModelResponse(text=result, usage=Usage(), model=model)
    if isinstance(result, tuple) and len(result) == 2:
        text, usage = result
        if text is None:
            text = ""
        if isinstance(text, str):
            return ModelResponse(
                text=text, usage=_usage(usage, messages, text, status), model=model
            )
    raise AdapterError(
        f"response_parser returned {_describe(result)}; it must return a ModelResponse, "
        "the reply text (str), or a (text, usage) tuple",
        status_code=status,
    )


def _usage(usage: object, messages: list[Message], text: str, status: int) -> Usage:
    if isinstance(usage, Usage):
        return usage
    if isinstance(usage, Mapping):
        return usage_from(usage)
    if usage is None:
        sent = sum(len(str(message.get("content", ""))) for message in messages)
        return Usage(prompt_tokens=sent // 4, completion_tokens=len(text) // 4)
    raise AdapterError(
        f"response_parser returned (text, {type(usage).__name__}); the usage must be a Usage, "
        "a mapping with prompt_tokens/completion_tokens, or None",
        status_code=status,
    )


def _describe(result: object) -> str:
    if isinstance(result, tuple):
        kinds = ", ".join(type(item).__name__ for item in result)
        return f"a tuple ({kinds})"
    return type(result).__name__


def _signature(role: str, hook: Callable[..., Any], help_text: str) -> inspect.Signature:
    try:
        return inspect.signature(hook)
    except (TypeError, ValueError):
        raise ConfigError(
            f"cannot read the parameters of {role} {hook!r}; wrap it in a def; {help_text}"
        ) from None
