"""Custom tools: the user's functions, callable by name from model code, run on the host.

A tool is described to the model like a built-in helper (``describe_function`` reads its
signature and docstring). Calls cross as plain data both ways; a tool's exception reaches model
code as an exception (so the model sees it as an error); every call is a ``tool_call`` trace
step with its events. Async tools are awaited on the run's event loop on async paths.
"""

from __future__ import annotations

import asyncio
import inspect
import keyword
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from rlm_core.errors import ConfigError
from rlm_core.repl.context_helpers import RESERVED_NAMES
from rlm_core.repl.helper_registry import HelperSpec, describe_function

if TYPE_CHECKING:
    from rlm_core.engine.settings import RunState

TOOL_GROUP = "tools"
MAX_SHOWN_CHARS = 2000


def is_plain_data(value: Any, depth: int = 0) -> bool:
    """str, int, float, bool, None, and lists, tuples and str-keyed dicts of those."""
    if depth > 100:
        return False
    if value is None or isinstance(value, str | int | float | bool):
        return True
    if isinstance(value, list | tuple):
        return all(is_plain_data(item, depth + 1) for item in value)
    if isinstance(value, dict):
        return all(
            isinstance(key, str) and is_plain_data(item, depth + 1) for key, item in value.items()
        )
    return False


def tool_specs(tools: Mapping[str, Callable[..., Any]]) -> list[HelperSpec]:
    """How each tool is shown to the model (the same lines as the built-in helpers)."""
    return [
        describe_function(function, name=name, group=TOOL_GROUP) for name, function in tools.items()
    ]


def check_tools(value: Any, taken: set[str]) -> dict[str, Callable[..., Any]]:
    """``tools=`` as a name -> callable dict; ``ConfigError`` for anything unusable.

    ``value`` is a list of functions (named by ``__name__``) or a mapping of name -> callable;
    ``taken`` holds the names of the built-in helpers, which a tool may not reuse.
    """
    if isinstance(value, Mapping):
        pairs = list(value.items())
    elif isinstance(value, list | tuple):
        for function in value:
            if not callable(function):
                raise ConfigError(
                    f"tool {function!r} is not callable: {type(function).__name__}; tools "
                    "takes functions (or a dict of name -> function)"
                )
        pairs = [(getattr(function, "__name__", None), function) for function in value]
    else:
        raise ConfigError(
            f"tools must be a list of functions or a dict of name -> function, got "
            f"{type(value).__name__}"
        )
    tools: dict[str, Callable[..., Any]] = {}
    for name, function in pairs:
        if not callable(function):
            raise ConfigError(f"tool {name!r} is not callable: {type(function).__name__}")
        if not isinstance(name, str) or not name.isidentifier() or keyword.iskeyword(name):
            raise ConfigError(
                f"tool name {name!r} is not a Python identifier; pass tools={{'a_name': fn}}"
            )
        if name.startswith("_"):
            raise ConfigError(f"tool name {name!r} must not start with an underscore")
        if name in taken or name in RESERVED_NAMES:
            raise ConfigError(
                f"tool name {name!r} is already a REPL helper or variable; give the tool "
                f"another name, e.g. tools={{'my_{name}': {name}}}"
            )
        if name in tools:
            raise ConfigError(f"two tools are named {name!r}; give them different names")
        try:
            inspect.signature(function)
        except (TypeError, ValueError):
            raise ConfigError(
                f"tool {name!r} has no readable signature; wrap it in a def with parameters"
            ) from None
        tools[name] = function
    return tools


class ToolCaller:
    """Calls one tool for model code: checks the data, records the step, awaits if async."""

    def __init__(
        self,
        name: str,
        function: Callable[..., Any],
        where: Callable[[], tuple[RunState, int, int | None]],
    ) -> None:
        """``where()`` gives the current run's state, the REPL's depth and the code step."""
        self.name = name
        self.function = function
        self.where = where
        self.__name__ = name
        self.__doc__ = inspect.getdoc(function)

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        name = self.name
        for value in (*args, *kwargs.values()):
            if not is_plain_data(value):
                raise TypeError(
                    f"{name}() takes plain data (str, int, float, bool, None, lists and "
                    f"str-keyed dicts), got {_a(type(value).__name__)}"
                )
        state, depth, parent_id = self.where()
        step = state.new_step(
            "tool_call",
            depth=depth,
            parent_id=parent_id,
            prompt=_shown(args, kwargs),
            metadata={"tool": name},
        )
        try:
            result = self._invoke(state, args, kwargs)
            if not is_plain_data(result):
                raise TypeError(
                    f"tool {name}() returned {_a(type(result).__name__)}; tools must return plain "
                    "data (str, int, float, bool, None, lists and str-keyed dicts)"
                )
        except Exception as error:
            step.error = f"{type(error).__name__}: {error}"
            state.end_step(step)
            raise
        step.response = repr(result)[:MAX_SHOWN_CHARS]
        state.end_step(step)
        return result

    def _invoke(self, state: RunState, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        result = self.function(*args, **kwargs)
        if not inspect.isawaitable(result):
            return result
        if state.loop is not None:  # async run: the tool runs on the run's event loop
            return asyncio.run_coroutine_threadsafe(_awaited(result), state.loop).result()
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            return asyncio.run(_awaited(result))
        with ThreadPoolExecutor(max_workers=1) as pool:  # a loop runs here: await elsewhere
            return pool.submit(asyncio.run, _awaited(result)).result()


def _a(noun: str) -> str:
    """``noun`` with its article: "a str", "an int", "an object"."""
    return f"{'an' if noun[:1].lower() in 'aeiou' else 'a'} {noun}"


async def _awaited(awaitable: Any) -> Any:
    return await awaitable


def _shown(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    parts = [repr(value) for value in args] + [f"{key}={value!r}" for key, value in kwargs.items()]
    return ", ".join(parts)[:MAX_SHOWN_CHARS]
