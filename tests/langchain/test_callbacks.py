"""The run tree: every root call, sub-call and retriever call is a child run of the RLM run."""

from __future__ import annotations

import socket

from langchain_core.runnables import RunnableLambda

from rlm_core import RLM
from rlm_langchain import ChatModelAdapter, RLMRunnable

from .conftest import CONTEXT, DOCS, KeywordRetriever, Recorder, async_scripted, fenced, scripted

BATCH = fenced("print(llm_batch(['one ' + P[:20], 'two ' + P[-20:], 'three']))")
SEARCH = fenced("hits = es_search('moon landing')\nprint(hits[0]['doc_id'])")


def _rlm(**kwargs: object) -> RLMRunnable:
    return RLMRunnable(
        llm=scripted(BATCH, SEARCH, "FINAL: done"),
        sub_llm=scripted("sub"),
        retriever=KeywordRetriever(documents=DOCS),
        context=CONTEXT,
        parallel_subcalls=True,
        **kwargs,
    )


def _assert_tree(recorder: Recorder) -> None:
    (rlm_run,) = recorder.named("RLMRunnable")
    assert rlm_run.parent_run_id is None
    chats = recorder.of("chat")
    assert len(chats) == 3 + 3  # three root steps, three parallel sub-calls
    assert all(run.parent_run_id == rlm_run.run_id for run in chats)
    (retriever_run,) = recorder.of("retriever")
    assert retriever_run.parent_run_id == rlm_run.run_id
    names = [name for name, _, _ in recorder.custom]
    assert names[0] == "rlm.run_start" and names[-1] == "rlm.run_end"
    assert names.count("rlm.step_start") == names.count("rlm.step_end") == 3 + 2 + 3
    assert {run_id for _, _, run_id in recorder.custom} == {rlm_run.run_id}
    subcall_starts = [
        data
        for name, data, _ in recorder.custom
        if name == "rlm.step_start" and data["kind"] == "subcall"
    ]
    exec_ids = [
        data["step_id"]
        for name, data, _ in recorder.custom
        if name == "rlm.step_start" and data["kind"] == "repl_exec"
    ]
    assert {data["parent_id"] for data in subcall_starts} == {exec_ids[0]}


def test_invoke_run_tree(recorder: Recorder) -> None:
    assert _rlm().invoke("q", config={"callbacks": [recorder]}) == "done"
    _assert_tree(recorder)


def test_stream_run_tree(recorder: Recorder) -> None:
    chunks = list(_rlm().stream("q", config={"callbacks": [recorder]}))
    assert "".join(chunks) == "done"
    _assert_tree(recorder)


async def test_ainvoke_run_tree(recorder: Recorder) -> None:
    assert await _rlm().ainvoke("q", config={"callbacks": [recorder]}) == "done"
    _assert_tree(recorder)


def test_nested_in_a_chain_the_rlm_run_has_the_chain_as_parent(recorder: Recorder) -> None:
    chain = RunnableLambda(lambda q: {"query": q, "context": CONTEXT}) | RLMRunnable(
        llm=scripted("FINAL: ok")
    )
    assert chain.invoke("q", config={"callbacks": [recorder]}) == "ok"
    (sequence,) = [run for run in recorder.of("chain") if run.parent_run_id is None]
    (rlm_run,) = recorder.named("RLMRunnable")
    assert rlm_run.parent_run_id == sequence.run_id
    assert recorder.of("chat")[0].parent_run_id == rlm_run.run_id


async def test_astream_events_v2_order() -> None:
    rlm = RLMRunnable(
        llm=async_scripted(fenced("print(llm_query('x ' + P[:30]))"), "FINAL: done"),
        sub_llm=async_scripted("sub"),
        context=CONTEXT,
    )
    events = [event async for event in rlm.astream_events("q", version="v2")]
    kinds = [event["event"] for event in events]
    assert kinds[0] == "on_chain_start" and kinds[-1] == "on_chain_end"
    assert events[-1]["data"]["output"] == "done"
    rlm_id = events[0]["run_id"]
    custom = [event for event in events if event["event"] == "on_custom_event"]
    assert custom[0]["name"] == "rlm.run_start" and custom[-1]["name"] == "rlm.run_end"
    assert all(event["run_id"] == rlm_id for event in custom)
    chat_starts = [e for e in events if e["event"] == "on_chat_model_start"]
    chat_ends = [e for e in events if e["event"] == "on_chat_model_end"]
    assert len(chat_starts) == len(chat_ends) == 3
    assert all(e["parent_ids"] == [rlm_id] for e in chat_starts)
    for start in chat_starts:
        end_index = next(
            i
            for i, e in enumerate(events)
            if e["event"] == "on_chat_model_end" and e["run_id"] == start["run_id"]
        )
        assert events.index(start) < end_index < len(events) - 1
    stream_chunks = [e["data"]["chunk"] for e in events if e["event"] == "on_chain_stream"]
    assert "".join(stream_chunks) == "done"


def test_plain_core_run_nests_through_contextvars_in_worker_threads(recorder: Recorder) -> None:
    """No explicit config: sub-calls in the core's thread pool still find the parent run."""
    root = scripted(BATCH, "FINAL: ok")

    def run(query: str) -> str:
        rlm = RLM(
            ChatModelAdapter(root),
            subcall_adapter=ChatModelAdapter(scripted("s")),
            parallel_subcalls=True,
        )
        return rlm.run(query, CONTEXT)[0]

    assert RunnableLambda(run, name="plain").invoke("q", config={"callbacks": [recorder]}) == "ok"
    (parent,) = recorder.named("plain")
    chats = recorder.of("chat")
    assert len(chats) == 2 + 3
    assert all(run.parent_run_id == parent.run_id for run in chats)


async def test_plain_core_arun_nests_through_contextvars(recorder: Recorder) -> None:
    root = async_scripted(BATCH, "FINAL: ok")

    async def run(query: str) -> str:
        rlm = RLM(
            ChatModelAdapter(root),
            subcall_adapter=ChatModelAdapter(async_scripted("s")),
            parallel_subcalls=True,
        )
        return (await rlm.arun(query, CONTEXT))[0]

    lam = RunnableLambda(run, name="plain")
    assert await lam.ainvoke("q", config={"callbacks": [recorder]}) == "ok"
    (parent,) = recorder.named("plain")
    assert len(recorder.of("chat")) == 5
    assert all(run.parent_run_id == parent.run_id for run in recorder.of("chat"))


def test_sockets_are_limited_to_loopback() -> None:
    assert socket.socket.connect.__name__ == "guarded_connect"
