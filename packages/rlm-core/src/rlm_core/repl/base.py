"""The REPL contract every backend implements, and the backend registry.

Standard library only (and ``rlm_core.errors``): the sandboxed worker imports this module.
"""

from __future__ import annotations

import ast
import importlib
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from rlm_core.errors import ConfigError

if TYPE_CHECKING:
    from rlm_core.repl.context_helpers import ContextHelpers

DEFAULT_MAX_OUTPUT_CHARS = 4000
REPL_FILENAME = "<repl>"


@dataclass(frozen=True, slots=True)
class ExecResult:
    """What one ``exec`` produced: captured output and, if it failed, a short traceback."""

    stdout: str
    error: str | None = None
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.error is None


@runtime_checkable
class REPL(Protocol):
    """A persistent Python session: variables survive between ``exec`` calls."""

    def exec(self, code: str) -> ExecResult: ...

    def get(self, name: str) -> Any: ...

    def set(self, name: str, value: Any) -> None: ...

    def close(self) -> None: ...


REPLProtocol = REPL


class REPLFactory(Protocol):
    def __call__(self, toolkit: ContextHelpers, *, max_output_chars: int) -> REPL: ...


class OutputBuffer:
    """Collects printed text up to ``limit`` chars and counts what it drops."""

    __slots__ = ("_parts", "dropped", "limit", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._parts: list[str] = []
        self.size = 0
        self.dropped = 0

    def write(self, text: str) -> int:
        room = self.limit - self.size
        if room > 0:
            kept = text[:room]
            self._parts.append(kept)
            self.size += len(kept)
            self.dropped += len(text) - len(kept)
        else:
            self.dropped += len(text)
        return len(text)

    def flush(self) -> None:
        """File-like no-op."""

    def getvalue(self) -> str:
        text = "".join(self._parts)
        if self.dropped:
            text += f"\n... [output truncated: {self.dropped} more chars not shown]"
        return text


def cap_output(text: str, limit: int) -> tuple[str, bool]:
    """``text`` cut to ``limit`` chars with a visible marker; and whether it was cut."""
    if len(text) <= limit:
        return text, False
    buffer = OutputBuffer(limit)
    buffer.write(text)
    return buffer.getvalue(), True


def split_last_expression(code: str) -> tuple[ast.Module, ast.Expression | None]:
    """Parse ``code``; if it ends in an expression, return it separately so its value
    can be echoed like an interactive prompt does."""
    tree = ast.parse(code, filename=REPL_FILENAME, mode="exec")
    if tree.body and isinstance(tree.body[-1], ast.Expr):
        last = tree.body.pop()
        assert isinstance(last, ast.Expr)
        return tree, ast.Expression(body=last.value)
    return tree, None


def format_error(error: BaseException, *, max_frames: int = 3) -> str:
    """A short traceback: only frames of model code, then the exception line."""
    if isinstance(error, SyntaxError) and error.filename == REPL_FILENAME:
        where = f"line {error.lineno}" if error.lineno else "unknown line"
        snippet = f"\n    {error.text.strip()}" if error.text else ""
        return f"SyntaxError: {error.msg} ({where}){snippet}"
    frames = [
        frame
        for frame in traceback.extract_tb(error.__traceback__)
        if frame.filename == REPL_FILENAME
    ][-max_frames:]
    lines = ["Traceback (most recent call last):"] if frames else []
    for frame in frames:
        lines.append(f"  line {frame.lineno}, in {frame.name}")
        if frame.line:
            lines.append(f"    {frame.line.strip()}")
    lines.extend(traceback.format_exception_only(type(error), error))
    return "\n".join(line.rstrip("\n") for line in lines)


_BACKENDS: dict[str, Callable[..., REPL]] = {}
# The built-in backends, imported on first use (so importing one never loads the others).
_BUILTIN_BACKENDS = {
    "python": ("rlm_core.repl.python_repl", "create_python_repl"),
    "isolated": ("rlm_core.repl.isolated.host", "create_isolated_repl"),
    "monty": ("rlm_core.repl.monty_repl", "create_monty_repl"),
}


def register_backend(name: str, factory: Callable[..., REPL]) -> None:
    """Make ``repl_backend=name`` available."""
    _BACKENDS[name] = factory


def backend_factory(name: str) -> Callable[..., REPL]:
    """The factory registered under ``name``; ``ConfigError`` listing the choices otherwise."""
    if name not in _BACKENDS and name in _BUILTIN_BACKENDS:
        module, attribute = _BUILTIN_BACKENDS[name]
        register_backend(name, getattr(importlib.import_module(module), attribute))
    try:
        return _BACKENDS[name]
    except KeyError:
        raise ConfigError(
            f"unknown repl_backend {name!r}; choose one of {backend_names()}"
        ) from None


def backend_names() -> list[str]:
    return sorted(set(_BACKENDS) | set(_BUILTIN_BACKENDS))
