"""The helper registry: how a method becomes a function model code can call.

A helper is a method marked with ``@helper(group)`` on a ``HelperSet`` subclass. Its name,
signature and first docstring line (a ``HelperSpec``) feed the REPL namespace, the sandboxed
worker (which runs some helpers itself and calls the host for the others) and the helper list in
the system prompt, so the three never drift. Standard library only: the sandboxed worker
imports this module before it confines itself.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

F = TypeVar("F", bound=Callable[..., Any])

_MARKER = "__rlm_helper__"


@dataclass(frozen=True, slots=True)
class HelperSpec:
    """How a helper is shown to the model."""

    name: str
    signature: str
    summary: str
    group: str
    needs_retriever: bool
    runs_in_repl: bool

    def describe(self) -> str:
        """``name(signature): summary``, the line the system prompt shows."""
        return f"{self.name}{self.signature}: {self.summary}"


def helper(group: str, *, retriever: bool = False, in_repl: bool = False) -> Callable[[F], F]:
    """Mark a ``HelperSet`` method as callable from the REPL.

    ``in_repl`` marks helpers that read REPL variables and so must run where the
    variables live (backends in another process implement them locally).
    """

    def mark(function: F) -> F:
        setattr(function, _MARKER, (group, retriever, in_repl))
        return function

    return mark


class HelperSet:
    """A class whose ``@helper`` methods, inherited ones included, are REPL helpers."""

    _specs_cache: ClassVar[dict[tuple[type, bool], list[HelperSpec]]] = {}

    @classmethod
    def specs(cls, *, with_retriever: bool) -> list[HelperSpec]:
        """The helpers available, base classes' first, in definition order (computed once)."""
        key = (cls, with_retriever)
        cached = HelperSet._specs_cache.get(key)
        if cached is None:
            cached = HelperSet._specs_cache[key] = _collect_specs(cls, with_retriever)
        return list(cached)

    def available_specs(self) -> list[HelperSpec]:
        """The helpers this instance offers (subclasses with optional helpers narrow it)."""
        return self.specs(with_retriever=False)

    def namespace(self) -> dict[str, Callable[..., Any]]:
        """Bound helpers by name, ready to put in a REPL namespace."""
        return {spec.name: self.resolve(spec.name) for spec in self.available_specs()}

    def resolve(self, name: str) -> Callable[..., Any]:
        """The callable behind helper ``name`` (subclasses add helpers that are not methods)."""
        function: Callable[..., Any] = getattr(self, name)
        return function


def _collect_specs(cls: type, with_retriever: bool) -> list[HelperSpec]:
    members: dict[str, Any] = {}
    for klass in reversed(cls.__mro__):
        members.update(vars(klass))  # an override keeps the position of what it overrides
    found = []
    for name, member in members.items():
        marker = getattr(member, _MARKER, None)
        if marker is None:
            continue
        group, needs_retriever, in_repl = marker
        if needs_retriever and not with_retriever:
            continue
        found.append(
            describe_function(
                member, name=name, group=group, needs_retriever=needs_retriever, in_repl=in_repl
            )
        )
    return found


def describe_function(
    function: Callable[..., Any],
    *,
    name: str,
    group: str,
    needs_retriever: bool = False,
    in_repl: bool = False,
) -> HelperSpec:
    """The ``HelperSpec`` of a function: its signature and the first line of its docstring.

    Built-in helpers and user tools are both described by this one function.
    """
    summary = (inspect.getdoc(function) or "").strip().split("\n", 1)[0]
    return HelperSpec(name, short_signature(function), summary, group, needs_retriever, in_repl)


def short_signature(function: Callable[..., Any]) -> str:
    """``(n=2000) -> str``: parameter names and defaults, no annotations (prompt-friendly)."""
    signature = inspect.signature(function)
    params = [
        name if param.default is inspect.Parameter.empty else f"{name}={param.default!r}"
        for name, param in signature.parameters.items()
        if name != "self"
    ]
    returns = signature.return_annotation
    suffix = "" if returns is inspect.Signature.empty else f" -> {_annotation_text(returns)}"
    return f"({', '.join(params)}){suffix}"


def _annotation_text(annotation: Any) -> str:
    """``str`` for ``str`` and ``'str'`` alike; ``list[str]`` as written."""
    if isinstance(annotation, type) and not getattr(annotation, "__args__", None):
        return annotation.__name__
    return str(annotation).strip("'").replace("typing.", "")
