"""Everything model code can call in the REPL, defined once.

The same definitions build the REPL namespace (``Toolkit.namespace``) and the
helper list in the system prompt (``prompts.describe_helpers``), so the two never drift.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from rlm_core.context import Context
from rlm_core._jsonish import as_records, parse_json_reply

if TYPE_CHECKING:
    from rlm_core.engine.subcalls import SubcallRunner

F = TypeVar("F", bound=Callable[..., Any])

_NO_ANSWER = re.compile(
    r"^\s*(?:none|n/?a|null|unknown|no answer|not found|not (?:mentioned|present|available)"
    r"|no (?:relevant )?information|i (?:don't|do not|cannot|can't) (?:know|find)"
    r"|the (?:text|passage|context) does not (?:say|mention|contain)).*$",
    re.IGNORECASE | re.DOTALL,
)

_SPECS: dict[tuple[type, bool], list[HelperSpec]] = {}


@dataclass(frozen=True, slots=True)
class HelperSpec:
    """How a helper is shown to the model."""

    name: str
    signature: str
    summary: str
    group: str
    needs_retriever: bool
    runs_in_repl: bool


def helper(group: str, *, retriever: bool = False, in_repl: bool = False) -> Callable[[F], F]:
    """Mark a ``Toolkit`` method as callable from the REPL.

    ``in_repl`` marks helpers that read REPL variables and so must run where the
    variables live (backends in another process implement them locally).
    """

    def mark(function: F) -> F:
        function.__rlm_helper__ = (group, retriever, in_repl)  # type: ignore[attr-defined]
        return function

    return mark


def is_no_answer(text: object) -> bool:
    """True for empty or "not found"-style replies."""
    return not isinstance(text, str) or not text.strip() or bool(_NO_ANSWER.match(text))


class Toolkit:
    """The helpers of one REPL. ``parent_step_id`` is the REPL step being run, so
    the sub-calls it makes are linked to it in the trace."""

    def __init__(
        self,
        context: Context,
        subcalls: SubcallRunner,
        *,
        retriever: Any = None,
        depth: int = 0,
        parallel_default: bool = False,
    ) -> None:
        self.context = context
        self.subcalls = subcalls
        self.retriever = retriever
        self.depth = depth
        self.parallel_default = parallel_default
        self.parent_step_id: int | None = None
        self.variables: Mapping[str, Any] = {}

    # -- namespace and docs ------------------------------------------------------------------
    @classmethod
    def specs(cls, *, with_retriever: bool) -> list[HelperSpec]:
        """The helpers available, in definition order (computed once per class)."""
        key = (cls, with_retriever)
        cached = _SPECS.get(key)
        if cached is None:
            cached = _SPECS[key] = cls._collect_specs(with_retriever)
        return list(cached)

    @classmethod
    def _collect_specs(cls, with_retriever: bool) -> list[HelperSpec]:
        found = []
        for name, member in vars(cls).items():
            marker = getattr(member, "__rlm_helper__", None)
            if marker is None:
                continue
            group, needs_retriever, in_repl = marker
            if needs_retriever and not with_retriever:
                continue
            signature = _short_signature(member)
            summary = (inspect.getdoc(member) or "").split("\n", 1)[0]
            found.append(HelperSpec(name, signature, summary, group, needs_retriever, in_repl))
        return found

    def namespace(self) -> dict[str, Callable[..., Any]]:
        """Bound helpers by name, ready to put in a REPL namespace."""
        specs = self.specs(with_retriever=self.retriever is not None)
        return {spec.name: getattr(self, spec.name) for spec in specs}

    # -- context -----------------------------------------------------------------------------
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
    def extract_after(self, marker: str, max_len: int = 128) -> str | None:
        """Text right after the first occurrence of marker in P (no sub-call), or None."""
        position = self.context.text.find(marker)
        if position < 0:
            return None
        start = position + len(marker)
        return self.context.text[start : start + max_len].strip()

    @helper("context", in_repl=True)
    def SHOW_VARS(self) -> str:
        """List the variables you have defined, with their types and sizes."""
        return describe_variables(self.variables)

    # -- sub-calls ---------------------------------------------------------------------------
    @helper("subcalls")
    def llm_query(self, text: str, model: str | None = None, max_tokens: int | None = None) -> str:
        """Ask a sub-model; returns its reply."""
        return self.subcalls.query(
            _text(text),
            model=model,
            max_tokens=max_tokens,
            parent_id=self.parent_step_id,
            depth=self.depth,
        )

    @helper("subcalls")
    def llm_batch(
        self, prompts: Sequence[str], model: str | None = None, max_tokens: int | None = None
    ) -> list[str]:
        """Ask many independent prompts in parallel; replies in the same order."""
        return self._batch([_text(p) for p in _sequence(prompts)], model, max_tokens, True)

    @helper("subcalls")
    def llm_query_batch(
        self,
        chunks: Sequence[str],
        model: str | None = None,
        max_tokens: int | None = None,
        parallel: bool | None = None,
    ) -> list[str]:
        """llm_query over each chunk (parallel when enabled); replies in order."""
        prompts = [_text(c) for c in _sequence(chunks)]
        return self._batch(prompts, model, max_tokens, self._parallel(parallel))

    @helper("subcalls")
    def ask(self, question: str, text: str, max_tokens: int | None = None) -> str:
        """Ask a sub-model a question about a piece of text."""
        return self.subcalls.query(
            _text(text),
            instruction=_text(question),
            max_tokens=max_tokens,
            parent_id=self.parent_step_id,
            depth=self.depth,
        )

    @helper("subcalls")
    def ask_chunks(
        self,
        question: str,
        chunks: Sequence[str],
        max_tokens: int | None = None,
        parallel: bool | None = None,
    ) -> list[str]:
        """Ask the same question about each chunk; replies in order."""
        items = [_text(c) for c in _sequence(chunks)]
        return self.subcalls.batch(
            items,
            instruction=_text(question),
            max_tokens=max_tokens,
            parallel=self._parallel(parallel),
            parent_id=self.parent_step_id,
            depth=self.depth,
        )

    @helper("subcalls")
    def ask_chunks_first(
        self, question: str, chunks: Sequence[str], max_tokens: int | None = None
    ) -> str | None:
        """Ask chunk by chunk and stop at the first real answer (None if none)."""
        for chunk in _sequence(chunks):
            reply = self.ask(question, chunk, max_tokens=max_tokens)
            if not is_no_answer(reply):
                return reply
        return None

    @helper("subcalls")
    def pick_first_answer(self, answers: Sequence[str]) -> str | None:
        """The first answer that is not empty or 'not found' (None if none)."""
        for answer in _sequence(answers):
            if not is_no_answer(answer):
                return str(answer).strip()
        return None

    @helper("subcalls")
    def llm_query_json(
        self, text: str, model: str | None = None, max_tokens: int | None = None
    ) -> Any:
        """Ask for JSON and return it parsed (dict or list)."""
        reply = self.llm_query(_json_prompt(_text(text)), model=model, max_tokens=max_tokens)
        return parse_json_reply(reply)

    @helper("subcalls")
    def llm_batch_json(
        self, prompts: Sequence[str], model: str | None = None, max_tokens: int | None = None
    ) -> list[Any]:
        """llm_batch asking for JSON; each reply parsed, None where it was not JSON."""
        replies = self.llm_batch(
            [_json_prompt(_text(p)) for p in _sequence(prompts)], model, max_tokens
        )
        return [_try_parse(reply) for reply in replies]

    @helper("subcalls")
    def llm_query_records(
        self,
        text: str,
        fields: Sequence[str] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> list[dict[str, Any]]:
        """Ask for a JSON array of objects (with the given fields) and return it."""
        reply = self.llm_query(_records_prompt(_text(text), fields), model, max_tokens)
        return as_records(parse_json_reply(reply))

    @helper("subcalls")
    def llm_batch_records(
        self,
        prompts: Sequence[str],
        fields: Sequence[str] | None = None,
        model: str | None = None,
        max_tokens: int | None = None,
    ) -> list[list[dict[str, Any]]]:
        """llm_query_records for many prompts in parallel ([] where a reply was unusable)."""
        replies = self.llm_batch(
            [_records_prompt(_text(p), fields) for p in _sequence(prompts)], model, max_tokens
        )
        results: list[list[dict[str, Any]]] = []
        for reply in replies:
            try:
                results.append(as_records(parse_json_reply(reply)))
            except ValueError:
                results.append([])
        return results

    # -- retrieval ---------------------------------------------------------------------------
    @helper("retrieval", retriever=True)
    def es_search(
        self, query: str, top_k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Keyword (BM25) search: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.search(query, top_k=top_k, filters=filters))

    @helper("retrieval", retriever=True)
    def es_vector_search(
        self, query: str, top_k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Semantic (embedding) search: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.vector_search(query, top_k=top_k, filters=filters))

    @helper("retrieval", retriever=True)
    def es_hybrid_search(
        self, query: str, top_k: int = 10, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Keyword + semantic search combined: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.hybrid_search(query, top_k=top_k, filters=filters))

    @helper("retrieval", retriever=True)
    def es_get(self, doc_id: str) -> dict[str, Any]:
        """A whole document: {doc_id, content, metadata}."""
        return dict(self.retriever.get(doc_id))

    # -- internals ---------------------------------------------------------------------------
    def _parallel(self, parallel: bool | None) -> bool:
        return self.parallel_default if parallel is None else bool(parallel)

    def _batch(
        self, prompts: list[str], model: str | None, max_tokens: int | None, parallel: bool
    ) -> list[str]:
        return self.subcalls.batch(
            prompts,
            model=model,
            max_tokens=max_tokens,
            parallel=parallel,
            parent_id=self.parent_step_id,
            depth=self.depth,
        )


def describe_variables(variables: Mapping[str, Any]) -> str:
    """One line per user variable: name, type and size."""
    rows = []
    for name, value in variables.items():
        if name.startswith("_") or callable(value) or name in {"P", "ctx", "history", "QUERY"}:
            continue
        size = f" len={len(value)}" if hasattr(value, "__len__") else ""
        rows.append(f"{name}: {type(value).__name__}{size}")
    return "\n".join(rows) if rows else "(no variables defined yet)"


def _short_signature(function: Callable[..., Any]) -> str:
    """``(n=2000) -> str``: parameter names and defaults, no annotations (prompt-friendly)."""
    signature = inspect.signature(function)
    params = [
        name if param.default is inspect.Parameter.empty else f"{name}={param.default!r}"
        for name, param in signature.parameters.items()
        if name != "self"
    ]
    returns = signature.return_annotation
    suffix = "" if returns is inspect.Signature.empty else f" -> {str(returns).strip(chr(39))}"
    return f"({', '.join(params)}){suffix}"


def _text(value: object) -> str:
    return value if isinstance(value, str) else str(value)


def _sequence(value: object) -> Sequence[Any]:
    """Lists and tuples as they are; other iterables (sets, generators) as a list."""
    if isinstance(value, list | tuple):
        return value
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        raise TypeError(f"expected a list of strings, got {type(value).__name__}")
    return list(value)


def _json_prompt(text: str) -> str:
    return f"{text}\n\nReply with valid JSON only, no prose."


def _records_prompt(text: str, fields: Sequence[str] | None) -> str:
    shape = f" with the fields {', '.join(fields)}" if fields else ""
    return f"{text}\n\nReply with a JSON array of objects{shape} only, no prose."


def _try_parse(reply: str) -> Any:
    try:
        return parse_json_reply(reply)
    except ValueError:
        return None
