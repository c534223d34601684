"""Legacy callback handlers on ``Settings``: what LlamaIndex users count and trace."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.callbacks import (
    CallbackManager,
    CBEventType,
    LlamaDebugHandler,
    TokenCountingHandler,
)
from llama_index.core.callbacks.base_handler import BaseCallbackHandler
from llama_index.core.chat_engine import SimpleChatEngine

from rlm_llamaindex import RLMLLM, RLMQueryEngine, RLMRetriever

from .helpers import DOCS, CompletionLLM, code, usage_llm

ASK = code('print(llm_query("x"))')
BATCH = code('print(llm_batch(["one", "two", "three"]))')


class ParentRecorder(BaseCallbackHandler):
    """Records each event's type and parent, as handlers receive them."""

    def __init__(self) -> None:
        super().__init__(event_starts_to_ignore=[], event_ends_to_ignore=[])
        self.parents: dict[str, tuple[CBEventType, str]] = {}

    def on_event_start(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        parent_id: str = "",
        **kwargs: Any,
    ) -> str:
        self.parents[event_id] = (event_type, parent_id)
        return event_id

    def on_event_end(
        self,
        event_type: CBEventType,
        payload: dict[str, Any] | None = None,
        event_id: str = "",
        **kwargs: Any,
    ) -> None:
        return None

    def start_trace(self, trace_id: str | None = None) -> None:
        return None

    def end_trace(
        self, trace_id: str | None = None, trace_map: dict[str, list[str]] | None = None
    ) -> None:
        return None

    def children(self, parent: str, kind: CBEventType) -> list[str]:
        return [i for i, (t, p) in self.parents.items() if p == parent and t == kind]


Handlers = tuple[LlamaDebugHandler, TokenCountingHandler, ParentRecorder]


@pytest.fixture
def handlers() -> Iterator[Handlers]:
    """A debug handler, a token counter and a parent recorder on ``Settings.callback_manager``."""
    saved = Settings._callback_manager
    debug, counter, parents = LlamaDebugHandler(), TokenCountingHandler(), ParentRecorder()
    Settings.callback_manager = CallbackManager([debug, counter, parents])
    yield debug, counter, parents
    Settings._callback_manager = saved


def _run(engine: RLMQueryEngine, use_async: bool) -> str:
    import asyncio

    if use_async:
        return str(asyncio.run(engine.aquery("q")))
    return str(engine.query("q"))


@pytest.mark.parametrize("use_async", [False, True])
@pytest.mark.parametrize("parallel", [False, True])
def test_token_counter_sees_exactly_the_model_calls(
    handlers: Handlers, use_async: bool, parallel: bool
) -> None:
    debug, counter, _ = handlers
    Settings.llm, _ = usage_llm([BATCH, "FINAL: done"], sub="y")  # attaches the callbacks
    engine = RLMQueryEngine(documents=DOCS, parallel_subcalls=parallel)

    assert _run(engine, use_async) == "done"

    # 2 root calls + 3 sub-calls, each reported once with the provider's usage
    assert len(counter.llm_token_counts) == 5
    assert all(c.prompt_token_count == 11 for c in counter.llm_token_counts)
    assert all(c.completion_token_count == 7 for c in counter.llm_token_counts)
    assert counter.total_llm_token_count == 5 * 18
    assert len(debug.get_event_pairs(CBEventType.LLM)) == 5
    assert len(debug.get_event_pairs(CBEventType.QUERY)) == 1
    assert len(debug.get_event_pairs(CBEventType.FUNCTION_CALL)) == 1


@pytest.mark.parametrize("use_async", [False, True])
def test_sub_call_llm_events_nest_under_the_repl_step(handlers: Handlers, use_async: bool) -> None:
    debug, _, parents = handlers
    Settings.llm, _ = usage_llm([ASK, "FINAL: done"], sub="y")
    engine = RLMQueryEngine(documents=DOCS)

    _run(engine, use_async)

    query_id = debug.get_event_pairs(CBEventType.QUERY)[0][0].id_
    exec_start, exec_end = debug.get_event_pairs(CBEventType.FUNCTION_CALL)[0]
    assert exec_start.payload is not None and "llm_query" in str(exec_start.payload.values())
    assert exec_end.payload is not None and "y" in str(exec_end.payload.values())
    assert parents.children(query_id, CBEventType.FUNCTION_CALL) == [exec_start.id_]
    assert len(parents.children(query_id, CBEventType.LLM)) == 2  # the root calls
    assert len(parents.children(exec_start.id_, CBEventType.LLM)) == 1  # the sub-call


def test_retrieval_from_the_repl_nests_under_the_step(
    handlers: Handlers,
) -> None:
    debug, counter, parents = handlers
    Settings.llm, _ = usage_llm([code('print(es_search("launch code", top_k=2))'), "FINAL: ok"])
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    engine = RLMQueryEngine.from_index(index)

    assert str(engine.query("q")) == "ok"

    exec_id = debug.get_event_pairs(CBEventType.FUNCTION_CALL)[0][0].id_
    retrieve_ids = [pair[0].id_ for pair in debug.get_event_pairs(CBEventType.RETRIEVE)]
    assert retrieve_ids and parents.children(exec_id, CBEventType.RETRIEVE) == retrieve_ids
    assert len(counter.llm_token_counts) == 2


def test_limits_are_set_from_the_engine() -> None:
    llm, _ = usage_llm([code("print(1)"), "FINAL: ok"])
    RLMQueryEngine(llm=llm, documents=DOCS, max_output_tokens=300, temperature=0.2).query("q")
    assert llm.calls_kwargs[0] == {"max_tokens": 300, "temperature": 0.2}

    llm, _ = usage_llm([code("print(1)"), "FINAL: ok"])
    RLMQueryEngine(llm=llm, documents=DOCS, forward_limits=False).query("q")
    assert llm.calls_kwargs[0] == {}


# -- LLMs built before Settings.callback_manager was set (their own manager has no handlers) ---
@pytest.fixture
def handlers_later() -> Iterator[Callable[[], Handlers]]:
    """Installs the handlers on ``Settings`` when called: LLMs built before that keep a
    manager without handlers (``CallbackManager()`` copies the ones on ``Settings``)."""
    saved = Settings._callback_manager
    Settings._callback_manager = None

    def install() -> Handlers:
        found = LlamaDebugHandler(), TokenCountingHandler(), ParentRecorder()
        Settings.callback_manager = CallbackManager(list(found))
        return found

    yield install
    Settings._callback_manager = saved


@pytest.mark.parametrize("use_async", [False, True])
def test_the_engine_hands_its_callback_manager_to_the_root_and_sub_llms(
    handlers_later: Callable[[], Handlers], use_async: bool
) -> None:
    root, _ = usage_llm([ASK, "FINAL: done"])
    sub, _ = usage_llm(sub="y")
    debug, counter, parents = handlers_later()
    assert not root.callback_manager.handlers and not sub.callback_manager.handlers
    engine = RLMQueryEngine(llm=root, sub_llm=sub, documents=DOCS)

    assert _run(engine, use_async) == "done"

    assert len(counter.llm_token_counts) == 3  # 2 root calls + 1 sub-call
    query_id = debug.get_event_pairs(CBEventType.QUERY)[0][0].id_
    exec_id = debug.get_event_pairs(CBEventType.FUNCTION_CALL)[0][0].id_
    assert len(parents.children(query_id, CBEventType.LLM)) == 2
    assert len(parents.children(exec_id, CBEventType.LLM)) == 1
    trace_map = debug._trace_map  # what LlamaDebugHandler prints at the end of a trace
    assert len(trace_map[query_id]) == 3 and len(trace_map[exec_id]) == 1


def test_an_engine_callback_manager_reaches_the_llm(handlers: Handlers) -> None:
    _, settings_counter, _ = handlers
    own = TokenCountingHandler()
    llm, _ = usage_llm([code("print(1)"), "FINAL: ok"])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, callback_manager=CallbackManager([own]))

    engine.query("q")

    assert len(own.llm_token_counts) == 2 and not settings_counter.llm_token_counts


def test_the_rlm_retriever_hands_its_callback_manager_to_the_llm(
    handlers_later: Callable[[], Handlers],
) -> None:
    llm, _ = usage_llm([code("print(P[:30])"), "FINAL: [2]"])
    _, counter, _ = handlers_later()

    found = RLMRetriever(llm=llm, nodes=DOCS).retrieve("launch code")

    assert [hit.node.get_content() for hit in found] == [DOCS[1]]
    assert len(counter.llm_token_counts) == 2


def test_a_chat_engine_over_rlmllm_counts_the_wrapped_llm(
    handlers_later: Callable[[], Handlers],
) -> None:
    inner, _ = usage_llm([code('print(llm_query("x"))'), "FINAL: done"], sub="y")
    debug, counter, _ = handlers_later()

    reply = SimpleChatEngine.from_defaults(llm=RLMLLM(llm=inner)).chat("go")

    assert str(reply) == "done"
    assert len(counter.llm_token_counts) == 3  # 2 root calls + 1 sub-call, none for the RLM
    assert len(debug.get_event_pairs(CBEventType.FUNCTION_CALL)) == 1


# -- completion models (is_chat_model=False, every CustomLLM such as MockLLM) --------------------
@pytest.mark.parametrize("stream_calls", [True, False])
@pytest.mark.parametrize("use_async", [False, True])
def test_a_completion_model_reports_each_call_once(
    handlers: Handlers, use_async: bool, stream_calls: bool
) -> None:
    debug, counter, _ = handlers
    llm = CompletionLLM(root=[ASK, "FINAL: done"], sub="y")
    engine = RLMQueryEngine(llm=llm, documents=DOCS, stream_calls=stream_calls)

    assert _run(engine, use_async) == "done"

    assert len(llm.prompts) == 3
    assert len(counter.llm_token_counts) == 3
    assert counter.total_llm_token_count == 3 * 18
    assert len(debug.get_event_pairs(CBEventType.LLM)) == 3


def test_a_completion_model_gets_its_own_messages_to_prompt() -> None:
    def as_prompt(messages: Sequence[ChatMessage]) -> str:
        return "".join(f"<{m.role.value}>{m.content}</{m.role.value}>" for m in messages)

    llm = CompletionLLM(root=[code("print(1)"), "FINAL: ok"], messages_to_prompt=as_prompt)

    response = RLMQueryEngine(llm=llm, documents=DOCS).query("q")

    assert str(response) == "ok"
    assert llm.prompts[0].startswith("<system>") and llm.prompts[0].endswith("</user>")
    assert response.metadata["usage"]["prompt_tokens"] == 2 * 11  # read from the completions
