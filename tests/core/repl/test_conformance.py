"""Every REPL backend behaves the same: variables, helpers, errors, output cap, limits."""

from __future__ import annotations

import functools
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import pytest

from rlm_core import RLM
from rlm_core.adapters.fake import FakeAdapter
from rlm_core.context import Context
from rlm_core.engine.run import RunSession
from rlm_core.engine.toolkit import Toolkit
from rlm_core.events import EventBus
from rlm_core.repl import backend_factory, backend_names
from rlm_core.repl.base import REPL
from rlm_core.repl.isolated import create_isolated_repl

BACKENDS = ["python", "isolated", "monty"]
DOCS = ["alpha beta gamma", "the needle is 42 here", "omega"]


class FakeRetriever:
    """A tiny in-memory retriever with the RetrieverProtocol methods the helpers call."""

    docs: ClassVar[dict[str, str]] = {
        "d1": "first document about cats",
        "d2": "second document about dogs",
    }

    def search(self, query: str, top_k: int = 10, filters: Any = None) -> list[dict[str, Any]]:
        return [
            {"doc_id": key, "preview": text[:10], "score": 1.0, "metadata": {}}
            for key, text in self.docs.items()
            if query in text
        ][:top_k]

    vector_search = hybrid_search = search

    def get(self, doc_id: str) -> dict[str, Any]:
        return {"doc_id": doc_id, "content": self.docs[doc_id], "metadata": {}}


def make_repl(
    backend: str, *, max_output_chars: int = 4000, **options: Any
) -> tuple[REPL, FakeAdapter]:
    adapter = FakeAdapter(default="sub-reply")
    adapter.add_rule("JSON", '{"k": 1}')
    rlm = RLM(adapter=adapter, repl_backend="python", retriever=FakeRetriever())
    session = RunSession(rlm.settings, EventBus([]))
    toolkit = Toolkit(
        Context.from_documents(DOCS), session.subcalls, retriever=rlm.settings.retriever
    )
    factory = backend_factory(backend)
    if options:
        factory = functools.partial(factory, **options)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return factory(toolkit, max_output_chars=max_output_chars), adapter


@pytest.fixture(params=BACKENDS)
def repl(request: pytest.FixtureRequest) -> Iterator[REPL]:
    instance, _ = make_repl(request.param)
    yield instance
    instance.close()


def run(repl: REPL, code: str) -> str:
    result = repl.exec(code)
    assert result.error is None, result.error
    return result.stdout


def test_all_backends_are_registered() -> None:
    assert set(BACKENDS) <= set(backend_names())


def test_variables_persist_and_get_set(repl: REPL) -> None:
    run(repl, "x = 40")
    assert run(repl, "x + 2") == "42\n"
    assert repl.get("x") == 40
    repl.set("y", [1, "two", {"k": 3}])
    assert run(repl, "print(y[2]['k'])") == "3\n"
    with pytest.raises(KeyError):
        repl.get("never_defined")


def test_context_helpers(repl: REPL) -> None:
    size = len(Context.from_documents(DOCS).text)
    assert run(repl, "print(lenP(), len(P))") == f"{size} {size}\n"
    assert run(repl, "print(peek(5), tail(5))") == "alpha omega\n"
    assert "needle" in run(repl, "print(grep('NEEDLE', window=5))")
    assert run(repl, "print(extract_after('needle is', 8))") == "42\n"
    assert run(repl, "print(find_facts('Where is the needle?'))") == ("['the needle is 42 here']\n")
    assert run(repl, "m = ctx.find('needle')\nprint(m[0].start, m[0].text)") == "27 needle\n"
    assert run(repl, "print(len(ctx.chunk(10)), ctx.num_documents())") == "6 3\n"
    assert run(repl, "for s, e, t in ctx.find('needle'): print(s, e, t)") == "27 33 needle\n"
    assert run(repl, "s, e, t = ctx.chunk(10)[1]\nprint(s, e, t == P[s:e])") == "10 20 True\n"
    assert run(repl, "a, b, docs = ctx.chunk_documents(2)[1]\nprint(a, b, len(docs))") == "2 3 1\n"
    assert run(repl, "print(ctx.metadata()['context_type'])") == "document_list\n"
    run(repl, "v = 1")
    assert "v: int" in run(repl, "print(SHOW_VARS())")


@pytest.mark.parametrize("backend", ["python", "isolated"])
def test_matches_keep_document_and_snippet_where_objects_live_in_the_repl(backend: str) -> None:
    # monty copies values into its own types, so there a match is the (start, end, text)
    # named tuple only; ctx.document_at(start) gives the document.
    repl, _ = make_repl(backend)
    try:
        code = "m = ctx.find('needle')[0]\nprint(m.doc_index, 'is 42' in m.snippet)"
        assert run(repl, code) == "1 True\n"
    finally:
        repl.close()


def test_subcall_and_retrieval_helpers(repl: REPL) -> None:
    assert run(repl, "print(llm_query('hi'))") == "sub-reply\n"
    assert run(repl, "print(llm_batch(['a', 'b']))") == "['sub-reply', 'sub-reply']\n"
    assert run(repl, "print(ask('q?', 'text'))") == "sub-reply\n"
    assert run(repl, "print(ask_chunks('q?', ['a', 'b']))") == "['sub-reply', 'sub-reply']\n"
    assert run(repl, "print(len(ask_chunks('q?', ctx.chunk(30))))") == "2\n"
    assert run(repl, "print(llm_query_json('give JSON'))") == "{'k': 1}\n"
    assert run(repl, "print(pick_first_answer(['not found', 'yes']))") == "yes\n"
    assert run(repl, "print([h['doc_id'] for h in es_search('dogs')])") == "['d2']\n"
    assert run(repl, "print(es_get('d1')['content'])") == "first document about cats\n"


def test_errors_are_reported_and_session_survives(repl: REPL) -> None:
    result = repl.exec("a = 1\ndef f():\n    return 1 / 0\nf()")
    assert result.error is not None and "ZeroDivisionError" in result.error
    assert "line" in result.error
    syntax = repl.exec("def broken(:")
    assert syntax.error is not None and "SyntaxError" in syntax.error
    helper = repl.exec("llm_query('x', model='no-such-model')")
    assert helper.error is not None and "unknown model" in helper.error
    assert run(repl, "print(a)") == "1\n"


@pytest.mark.parametrize("backend", BACKENDS)
def test_output_is_capped(backend: str) -> None:
    repl, _ = make_repl(backend, max_output_chars=100)
    try:
        result = repl.exec("for i in range(1000):\n    print('x' * 50)")
        assert result.truncated
        assert len(result.stdout) < 300
        assert "truncated" in result.stdout
    finally:
        repl.close()


@pytest.mark.parametrize(
    ("backend", "options"),
    [("isolated", {"wall_seconds": 1.0, "cpu_seconds": 1}), ("monty", {"duration_seconds": 1.0})],
)
def test_limit_hit_leaves_backend_usable(backend: str, options: dict[str, Any]) -> None:
    repl, _ = make_repl(backend, **options)
    try:
        run(repl, "kept = 1")
        result = repl.exec("while True:\n    pass")
        assert result.error is not None and "lost" in result.error
        assert run(repl, "print(lenP() > 0, llm_query('again'))") == "True sub-reply\n"
    finally:
        repl.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_full_run(backend: str) -> None:
    adapter = FakeAdapter(
        [
            "```python\nhits = grep('needle')\nanswer = llm_query(hits[0])\nprint(answer)\n```",
            "FINAL_VAR: answer",
        ]
    )
    sub = FakeAdapter(default="sub says 42")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        answer, trace = RLM(adapter=adapter, subcall_adapter=sub, repl_backend=backend).run(
            "what number?", DOCS
        )
    assert answer == "sub says 42"
    assert any(step.stdout == "sub says 42\n" for step in trace.steps)


def test_isolated_factory_accepts_partial_limits() -> None:
    factory = functools.partial(create_isolated_repl, memory_mb=256, wall_seconds=5)
    adapter = FakeAdapter(["```python\nprint(lenP())\n```", "FINAL: done"])
    answer, _ = RLM(adapter=adapter, repl_backend=factory).run("q", "some text")
    assert answer == "done"


@pytest.mark.parametrize("backend", BACKENDS)
async def test_async_run(backend: str) -> None:
    adapter = FakeAdapter(["```python\nanswer = llm_batch(['a', 'b'])\n```", "FINAL_VAR: answer"])
    sub = FakeAdapter(default="async sub")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rlm = RLM(adapter=adapter, subcall_adapter=sub, repl_backend=backend)
        answer, _ = await rlm.arun("q", DOCS)
    assert answer == "['async sub', 'async sub']"


@pytest.mark.parametrize("backend", BACKENDS)
def test_recursive_sub_runs_get_their_own_repl(backend: str) -> None:
    root = FakeAdapter(["```python\nanswer = llm_query('inner text 7')\n```", "FINAL_VAR: answer"])
    sub = FakeAdapter(["```python\nprint(P)\n```", "FINAL: inner saw 7"])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rlm = RLM(adapter=root, subcall_adapter=sub, repl_backend=backend, recursive_subcalls=True)
        answer, trace = rlm.run("q", DOCS)
    assert answer == "inner saw 7"
    assert any(step.stdout == "inner text 7\n" for step in trace.steps)


def test_system_exit_and_keyboard_interrupt_raised_by_code_are_step_errors(repl: REPL) -> None:
    for code, shown in (
        ("raise SystemExit('bye')", "SystemExit: bye"),
        ("raise KeyboardInterrupt", "KeyboardInterrupt"),
        ("def stop():\n    raise KeyboardInterrupt('no more')\nstop()", "KeyboardInterrupt"),
    ):
        result = repl.exec("a = 2\n" + code)
        assert result.error is not None and shown in result.error
    assert run(repl, "print(a)") == "2\n"
