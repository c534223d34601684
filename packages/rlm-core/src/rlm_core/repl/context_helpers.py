"""The helpers that need only the context and the REPL's own variables.

They run wherever model code runs: in process for the ``python`` and ``monty`` backends, and
inside the sandboxed worker for ``isolated``, which imports this module before it confines
itself, so it may import only the standard library, ``rlm_core.context`` and the registry.
Helpers that need the host (sub-calls, retrieval) live in ``rlm_core.engine.toolkit``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rlm_core.context import Context
from rlm_core.repl.helper_registry import HelperSet, helper
from rlm_core.repl.related import related_sentences

RESERVED_NAMES = frozenset({"P", "ctx", "history", "contexts", "transcript", "QUERY"})
# Stripped from both ends of the word ``extract_after`` returns.
_TOKEN_PUNCTUATION = " \t\r\n.,;:\"'()[]{}"


class ContextHelpers(HelperSet):
    """Helpers over one ``Context``; ``variables`` is the REPL namespace (for ``SHOW_VARS``)."""

    def __init__(self, context: Context) -> None:
        self.context = context
        self.variables: Mapping[str, Any] = {}

    @helper("context")
    def peek(self, n: int = 2000) -> str:
        """The first n characters of P."""
        return self.context.text[: max(int(n), 0)]

    @helper("context")
    def tail(self, n: int = 2000) -> str:
        """The last n characters of P."""
        n = max(int(n), 0)
        return self.context.text[-n:] if n else ""

    @helper("context")
    def lenP(self) -> int:
        """Number of characters in P."""
        return len(self.context.text)

    @helper("context")
    def grep(
        self, pattern: str, window: int = 150, max_results: int = 20, regex: bool = False
    ) -> list[str]:
        """Case-insensitive search of P; each hit as '[@offset] ...text around it...'."""
        text = self.context.text
        hits = self.context.find(
            pattern, regex=regex, max_matches=max_results, case_sensitive=False
        )
        return [
            f"[@{hit.start}] {text[max(hit.start - window, 0) : hit.end + window]}" for hit in hits
        ]

    @helper("context")
    def find_facts(self, question: str, hops: int = 2, max_sentences: int = 10) -> list[str]:
        """Whole sentences about question: those with its rarest words, then those naming what they mention."""  # noqa: E501
        return related_sentences(self.context, question, hops=hops, max_sentences=max_sentences)

    @helper("context")
    def extract_after(self, marker: str, max_len: int = 128) -> str | None:
        """The first word after the first occurrence of marker in P (no sub-call), or None."""
        position = self.context.text.find(marker)
        if position < 0:
            return None
        start = position + len(marker)
        words = self.context.text[start : start + max_len].split(maxsplit=1)
        if not words:
            return None
        return words[0].strip(_TOKEN_PUNCTUATION) or None

    @helper("context", in_repl=True)
    def SHOW_VARS(self) -> str:
        """List the variables you have defined, with their types and sizes."""
        return describe_variables(self.variables)


def describe_variables(variables: Mapping[str, Any]) -> str:
    """One line per user variable: name, type and size."""
    rows = []
    for name, value in variables.items():
        if name.startswith("_") or callable(value) or name in RESERVED_NAMES:
            continue
        size = f" len={len(value)}" if hasattr(value, "__len__") else ""
        rows.append(f"{name}: {type(value).__name__}{size}")
    return "\n".join(rows) if rows else "(no variables defined yet)"
