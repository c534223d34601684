"""A run that a wrapped LangChain model ended raises that model's own error.

rlm-core reports a root model that failed as ``AdapterError`` (the original as its cause),
with the run's trace attached. LangChain code filters on the original classes instead:
``with_retry(retry_if_exception_type=...)``, ``with_fallbacks(exceptions_to_handle=...)``,
``except openai.RateLimitError``. So the runs of ``ChatRLM`` and ``RLMRunnable`` raise the
original error, with the trace as its ``trace`` attribute and a note saying where it came
from. Errors of the engine itself (other ``RLMError``s) are raised unchanged.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import aclosing, contextmanager
from functools import wraps
from typing import ParamSpec, TypeVar

from rlm_core import AdapterError, RLMError

P = ParamSpec("P")
T = TypeVar("T")


def original_error(error: AdapterError) -> BaseException:
    """The wrapped model's own error behind ``error`` (given the run's trace), or ``error``."""
    cause = error.__cause__
    if not isinstance(cause, Exception) or isinstance(cause, RLMError):
        return error
    trace = getattr(error, "trace", None)
    try:
        cause.trace = trace  # type: ignore[attr-defined]
    except AttributeError:  # an exception type without instance attributes
        return error
    cause.add_note(f"raised by the RLM's root model; the run's trace is on .trace ({error})")
    return cause


@contextmanager
def model_errors_as_raised() -> Iterator[None]:
    """Re-raise an ``AdapterError`` that stands for a model's own error as that error."""
    try:
        yield
    except AdapterError as error:
        original = original_error(error)
        if original is error:
            raise
        raise original from None


def raising_model_errors(function: Callable[P, Iterator[T]]) -> Callable[P, Iterator[T]]:
    """A generator method whose run raises the wrapped model's own errors."""

    @wraps(function)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> Iterator[T]:
        with model_errors_as_raised():
            yield from function(*args, **kwargs)

    return wrapper


def araising_model_errors(
    function: Callable[P, AsyncIterator[T]],
) -> Callable[P, AsyncIterator[T]]:
    """An async generator method whose run raises the wrapped model's own errors."""

    @wraps(function)
    async def wrapper(*args: P.args, **kwargs: P.kwargs) -> AsyncIterator[T]:
        with model_errors_as_raised():
            async with aclosing(function(*args, **kwargs)) as items:  # type: ignore[type-var]
                async for item in items:
                    yield item

    return wrapper
