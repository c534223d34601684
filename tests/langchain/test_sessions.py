"""One rlm-core session per conversation: REPL variables survive turns under
RunnableWithMessageHistory and a LangGraph checkpointer; sessions close on request or idle."""

from __future__ import annotations

import itertools

from langchain_core.chat_history import InMemoryChatMessageHistory
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.runnables.history import RunnableWithMessageHistory
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import START, MessagesState, StateGraph

from rlm_langchain import ChatRLM, RLMRunnable, RLMSessions

from .conftest import CONTEXT, Recorder, fenced, scripted

REMEMBER = (fenced("secret = 4711\nprint(secret)"), "FINAL: noted")
RECALL = (fenced("answer = secret + 1\nprint(answer)"), "FINAL_VAR: answer")


def _config(session_id: str, recorder: Recorder | None = None) -> RunnableConfig:
    config: RunnableConfig = {"configurable": {"session_id": session_id}}
    if recorder is not None:
        config["callbacks"] = [recorder]
    return config


def test_chat_rlm_with_message_history_keeps_the_repl(recorder: Recorder) -> None:
    sessions = RLMSessions()
    chat = ChatRLM(llm=scripted(*REMEMBER, *RECALL), context=CONTEXT, sessions=sessions)
    histories: dict[str, InMemoryChatMessageHistory] = {}
    with_history = RunnableWithMessageHistory(
        chat, lambda session_id: histories.setdefault(session_id, InMemoryChatMessageHistory())
    )
    assert with_history.invoke("Remember 4711.", config=_config("s1")).text == "noted"
    reply = with_history.invoke("What is one more?", config=_config("s1", recorder))
    assert reply.text == "4712"  # `secret` from turn 1 was still in the REPL
    assert len(histories["s1"].messages) == 4
    assert "s1" in sessions and len(sessions) == 1
    # The second turn's calls are children of the second turn's run ...
    (turn_run,) = [run for run in recorder.of("chat") if run.name == "ChatRLM"]
    inner = [run for run in recorder.of("chat") if run is not turn_run]
    assert len(inner) == 2 and all(run.parent_run_id == turn_run.run_id for run in inner)
    # ... and the earlier turn reaches the root as the core session's note, not replayed turns.
    first_prompt = recorder.prompts[inner[0].run_id]
    assert [type(m) for m in first_prompt] == [SystemMessage, HumanMessage]
    assert "Remember 4711." in first_prompt[1].text
    session = sessions.session("s1")
    assert session is not None and not session.closed
    assert sessions.close("s1") and session.closed and "s1" not in sessions


async def test_rlm_runnable_session_async_turns() -> None:
    sessions = RLMSessions()
    rlm = RLMRunnable(llm=scripted(*REMEMBER, *RECALL), context=CONTEXT, sessions=sessions)
    assert await rlm.ainvoke("Remember 4711.", config=_config("a")) == "noted"
    assert await rlm.ainvoke("One more?", config=_config("a")) == "4712"
    sessions.close_all()
    assert len(sessions) == 0


def test_rlm_runnable_without_a_conversation_id_runs_fresh() -> None:
    sessions = RLMSessions()
    rlm = RLMRunnable(llm=scripted(*REMEMBER, *RECALL), context=CONTEXT, sessions=sessions)
    assert rlm.invoke("Remember 4711.") == "noted"
    assert rlm.invoke("One more?") != "4712"  # a fresh REPL: `secret` is gone
    assert len(sessions) == 0


def test_a_langgraph_thread_keeps_one_session() -> None:
    sessions = RLMSessions()
    chat = ChatRLM(llm=scripted(*REMEMBER, *RECALL), context=CONTEXT, sessions=sessions)

    def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [chat.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    graph = builder.compile(checkpointer=InMemorySaver())
    thread: RunnableConfig = {"configurable": {"thread_id": "t1"}}
    graph.invoke({"messages": [HumanMessage("Remember 4711.")]}, thread)
    state = graph.invoke({"messages": [HumanMessage("One more?")]}, thread)
    assert [m.text for m in state["messages"] if isinstance(m, AIMessage)] == ["noted", "4712"]
    assert "t1" in sessions


def test_idle_sessions_are_closed() -> None:
    now = [0.0]
    sessions = RLMSessions(idle_timeout=60, clock=lambda: now[0])
    rlm = RLMRunnable(llm=scripted(*REMEMBER), context=CONTEXT, sessions=sessions)
    rlm.invoke("Remember 4711.", config=_config("old"))
    old = sessions.session("old")
    now[0] = 30.0
    rlm.invoke("Remember 4711.", config=_config("recent"))
    assert "old" in sessions
    now[0] = 100.0  # "old" was last used 100 s ago, "recent" 70 s ago: both past 60 s
    rlm.invoke("Remember 4711.", config=_config("new"))
    assert old is not None and old.closed
    assert "old" not in sessions and "recent" not in sessions and "new" in sessions
    sessions.close_all()


def test_bad_idle_timeout_names_the_fix() -> None:
    import pytest

    with pytest.raises(ValueError, match="idle_timeout must be a positive number"):
        RLMSessions(idle_timeout=0)


def _streaming(*replies: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=itertools.cycle([AIMessage(content=r) for r in replies]))


async def test_a_checkpointed_graph_streams_answer_tokens_and_keeps_the_repl() -> None:
    """LangGraph messages mode + checkpointer + sessions: tokens stream, variables survive."""
    sessions = RLMSessions()
    remember = (fenced("secret = 4711\nprint(secret)"), "FINAL: I will remember the number.")
    recall = (fenced("answer = secret + 1\nprint(answer)"), "FINAL: One more is 4712 exactly.")
    chat = ChatRLM(llm=_streaming(*remember, *recall), context=CONTEXT, sessions=sessions)

    async def answer(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [await chat.ainvoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("answer", answer)
    builder.add_edge(START, "answer")
    graph = builder.compile(checkpointer=InMemorySaver())
    thread: RunnableConfig = {"configurable": {"thread_id": "t2"}}
    streamed: list[list[str]] = []
    for question in ("Remember 4711.", "One more?"):
        parts = [
            message.text
            async for message, _ in graph.astream(
                {"messages": [HumanMessage(question)]}, thread, stream_mode="messages"
            )
            if message.text
        ]
        streamed.append(parts)
    assert ["".join(parts) for parts in streamed] == [
        "I will remember the number.",
        "One more is 4712 exactly.",  # computed in turn 2 from turn 1's `secret`
    ]
    assert all(len(parts) > 1 for parts in streamed)  # token by token, no code shown
    session = sessions.session("t2")
    assert session is not None and len(session.turns) == 2


def test_a_session_turn_streams_through_chat_rlm_stream() -> None:
    sessions = RLMSessions()
    chat = ChatRLM(
        llm=_streaming(fenced("x = 2"), "FINAL: x is set to two now."),
        context=CONTEXT,
        sessions=sessions,
    )
    chunks = list(chat.stream("Set x.", config=_config("s-stream")))
    texts = [chunk.text for chunk in chunks if chunk.text]
    assert "".join(texts) == "x is set to two now." and len(texts) > 1
    rlm = RLMRunnable(
        llm=_streaming(fenced("y = 3"), "FINAL: y is three in this turn."),
        context=CONTEXT,
        sessions=sessions,
    )
    pieces = [chunk for chunk in rlm.stream("Set y.", config=_config("r-stream")) if chunk]
    assert "".join(pieces) == "y is three in this turn." and len(pieces) > 1


def test_max_sessions_closes_the_least_recently_used() -> None:
    now = [0.0]
    sessions = RLMSessions(max_sessions=1, clock=lambda: now[0])
    rlm = RLMRunnable(llm=scripted("FINAL: ok"), context=CONTEXT, sessions=sessions)
    rlm.invoke("q", config=_config("first"))
    first = sessions.session("first")
    now[0] = 1.0
    rlm.invoke("q", config=_config("second"))
    assert first is not None and first.closed
    assert "second" in sessions and len(sessions) == 1
