"""Everything model code can call in the REPL, defined once.

``Toolkit`` adds the helpers that need the host (sub-calls, retrieval) to the context helpers of
``rlm_core.repl.context_helpers``. The same definitions build the REPL namespace
(``Toolkit.namespace``), the sandboxed worker's functions (context helpers run there, the others
are forwarded to this object) and the helper list in the system prompt
(``prompts.describe_helpers``), so they never drift.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rlm_core._jsonish import as_records, parse_json_reply
from rlm_core.context import Context, chunk_text
from rlm_core.engine.tools import ToolCaller, tool_specs
from rlm_core.repl.context_helpers import ContextHelpers
from rlm_core.repl.helper_registry import HelperSpec, helper

if TYPE_CHECKING:
    from rlm_core.engine.settings import RunState
    from rlm_core.engine.subcalls import SubcallRunner

_NO_ANSWER = re.compile(
    r"^\s*(?:(?:answer|final|result)\s*:\s*)?"
    r"(?:none|n/?a|null|unknown|no[\s_-]*answer|not[\s_-]*found"
    r"|not (?:mentioned|present|available)"
    r"|no (?:relevant )?information|i (?:don't|do not|cannot|can't) (?:know|find)"
    r"|the (?:text|passage|context) does not (?:say|mention|contain)).*$",
    re.IGNORECASE | re.DOTALL,
)


def is_no_answer(text: object) -> bool:
    """True for empty or "not found"-style replies."""
    return not isinstance(text, str) or not text.strip() or bool(_NO_ANSWER.match(text))


@dataclass(frozen=True, slots=True)
class FinalCall:
    """What model code asked to finish with: ``FINAL(value)`` or ``FINAL_VAR(variable)``."""

    value: Any = None
    variable: str | None = None


class Toolkit(ContextHelpers):
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
        tools: Mapping[str, Callable[..., Any]] | None = None,
    ) -> None:
        super().__init__(context)
        self.subcalls = subcalls
        self.retriever = retriever
        self.depth = depth
        self.parallel_default = parallel_default
        self.parent_step_id: int | None = None
        self.final: FinalCall | None = None
        self.tools = {
            name: ToolCaller(name, function, self._where)
            for name, function in (tools or {}).items()
        }
        self._tool_specs = tool_specs(tools or {})

    def available_specs(self) -> list[HelperSpec]:
        """Every helper, the retrieval ones only when a retriever is set, then the tools."""
        return [*self.specs(with_retriever=self.retriever is not None), *self._tool_specs]

    def resolve(self, name: str) -> Callable[..., Any]:
        tool = self.tools.get(name)
        return tool if tool is not None else super().resolve(name)

    def _where(self) -> tuple[RunState, int, int | None]:
        """Where a tool call happens: the run, this REPL's depth, the code step running."""
        return self.subcalls.state, self.depth, self.parent_step_id

    def take_final(self) -> FinalCall | None:
        """The ``FINAL`` / ``FINAL_VAR`` call of the code step that just ran, if any (once)."""
        final, self.final = self.final, None
        return final

    # -- finishing from code -----------------------------------------------------------------
    @helper("finish")
    def FINAL(self, answer: Any) -> None:
        """End the run with this answer once the current code step finishes."""
        self.final = FinalCall(value=answer)

    @helper("finish")
    def FINAL_VAR(self, name: str) -> None:
        """End the run with the value of the REPL variable called name (a str)."""
        if not isinstance(name, str) or not name.isidentifier():
            raise TypeError(
                f"FINAL_VAR takes the variable's name as a string, e.g. FINAL_VAR('answer'); "
                f"got {name!r:.60}"
            )
        self.final = FinalCall(variable=name)

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
    def rlm_query(self, prompt: str, context: str | None = None) -> str:
        """Run a recursive sub-RLM (its own REPL over context) on prompt; returns its answer."""
        has_context = context is not None
        return self.subcalls.query(
            _text(context) if has_context else _text(prompt),
            instruction=_text(prompt) if has_context else None,
            parent_id=self.parent_step_id,
            depth=self.depth,
            recursive=True,
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
    # top_k=None leaves the number of hits to the index's own default (10 unless configured)
    @helper("retrieval", retriever=True)
    def es_search(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Keyword (BM25) search: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.search(query, filters=filters, **_top_k(top_k)))

    @helper("retrieval", retriever=True)
    def es_vector_search(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Semantic (embedding) search: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.vector_search(query, filters=filters, **_top_k(top_k)))

    @helper("retrieval", retriever=True)
    def es_hybrid_search(
        self, query: str, top_k: int | None = None, filters: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """Keyword + semantic search combined: [{doc_id, preview, score, metadata}]."""
        return list(self.retriever.hybrid_search(query, filters=filters, **_top_k(top_k)))

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


def _top_k(top_k: int | None) -> dict[str, Any]:
    """``top_k`` as a keyword argument, or none so the retriever's own default applies."""
    return {} if top_k is None else {"top_k": top_k}


def _text(value: object) -> str:
    return chunk_text(value)


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
