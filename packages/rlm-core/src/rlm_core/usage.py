"""Token usage of model calls: a plain value type shared by adapters, the trace and budgets."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True, init=False)
class Usage:
    """Token counts reported for one model call.

    ``Usage(prompt_tokens, completion_tokens)`` derives ``total_tokens``; the OpenAI shape
    ``Usage(prompt_tokens=..., completion_tokens=..., total_tokens=...)`` is accepted too, and
    a total that is not the sum of the two raises ``ValueError``.
    """

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int = field(init=False)

    def __init__(
        self, prompt_tokens: int = 0, completion_tokens: int = 0, total_tokens: int | None = None
    ) -> None:
        _check_count("prompt_tokens", prompt_tokens)
        _check_count("completion_tokens", completion_tokens)
        derived = prompt_tokens + completion_tokens
        if total_tokens is not None:
            _check_count("total_tokens", total_tokens)
            if total_tokens != derived:
                raise ValueError(
                    f"Usage(total_tokens={total_tokens}) is not prompt_tokens + "
                    f"completion_tokens = {prompt_tokens} + {completion_tokens} = {derived}; "
                    "leave total_tokens out to have it computed"
                )
        object.__setattr__(self, "prompt_tokens", prompt_tokens)
        object.__setattr__(self, "completion_tokens", completion_tokens)
        object.__setattr__(self, "total_tokens", derived)

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )

    def to_dict(self) -> dict[str, int]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.total_tokens,
        }


def _check_count(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"Usage.{name} must be an int, got {type(value).__name__} {value!r}")
    if value < 0:
        raise ValueError(f"Usage.{name} must be >= 0, got {value}")
