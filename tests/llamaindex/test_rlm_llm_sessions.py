"""``RLMLLM`` keeps one core session per conversation: REPL variables survive chat turns."""

from __future__ import annotations

import gc
import time
import weakref

import pytest
from llama_index.core import Document, VectorStoreIndex
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import ChatMemoryBuffer

from rlm_core import ConfigError, SessionError
from rlm_llamaindex import RLMLLM, ChatSessions

from .helpers import DOCS, code, scripted_llm

# Turn 1 sets a variable; turn 2's answer can only be computed from it.
REMEMBER = [code("secret = 7319 * 2\nprint(P[:40])"), "FINAL: noted"]
RECALL = [code("FINAL(str(secret))")]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def chat_engine(llm: RLMLLM) -> SimpleChatEngine:
    memory = ChatMemoryBuffer.from_defaults(token_limit=4000)
    return SimpleChatEngine.from_defaults(llm=llm, memory=memory)


def user(text: str) -> ChatMessage:
    return ChatMessage(role="user", content=text)


def test_chat_engine_turns_share_one_repl() -> None:
    inner, script = scripted_llm([*REMEMBER, *RECALL])
    llm = RLMLLM(llm=inner)
    engine = chat_engine(llm)

    assert str(engine.chat("Remember a number")) == "noted"
    assert str(engine.chat("What was it?")) == "14638"

    assert llm.sessions is not None and len(llm.sessions) == 1
    # the second turn is turn 2 of the same session: the new message is the question
    assert script.root_prompts[2].startswith("This is turn 2 of a conversation")
    assert "Question: What was it?" in script.root_prompts[2]
    llm.close()
    assert len(llm.sessions) == 0


def test_stream_chat_turns_share_one_repl() -> None:
    inner, _ = scripted_llm([*REMEMBER, *RECALL])
    engine = chat_engine(RLMLLM(llm=inner))

    first = engine.stream_chat("Remember a number")
    assert "".join(first.response_gen) == "noted"
    second = engine.stream_chat("What was it?")
    assert "".join(second.response_gen) == "14638"


async def test_async_chat_and_stream_share_one_repl() -> None:
    inner, _ = scripted_llm([*REMEMBER, *RECALL, code("FINAL(str(secret + 1))")])
    llm = RLMLLM(llm=inner)
    engine = chat_engine(llm)

    assert str(await engine.achat("Remember a number")) == "noted"
    assert str(await engine.achat("What was it?")) == "14638"
    streamed = await engine.astream_chat("And one more?")
    assert "".join([piece async for piece in streamed.async_response_gen()]) == "14639"
    assert llm.sessions is not None and len(llm.sessions) == 1
    await llm.aclose()


def test_index_chat_engine_continues_the_session() -> None:
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    condense = [code("print(P[-60:])"), "FINAL: What was the number?"]
    inner, script = scripted_llm([*REMEMBER, *condense, *RECALL])
    llm = RLMLLM(llm=inner)
    engine = index.as_chat_engine(llm=llm, similarity_top_k=3)

    assert str(engine.chat("Remember a number")) == "noted"
    # the engine condenses the question with a one-off completion, then chats in the session
    assert str(engine.chat("What was it?")) == "14638"
    assert llm.sessions is not None and len(llm.sessions) == 1
    # the condensed question only picks the nodes; the user's message is the question
    assert "Question: What was it?" in script.root_prompts[-1]


def test_direct_chat_calls_continue_when_the_history_replays_the_last_turn() -> None:
    inner, _ = scripted_llm([*REMEMBER, *RECALL, *REMEMBER])
    llm = RLMLLM(llm=inner)
    first = llm.chat([user("Remember a number")])
    conversation = first.raw["rlm"]["conversation_id"]
    history = [user("Remember a number"), first.message]

    second = llm.chat([*history, user("What was it?")])
    assert second.message.content == "14638"
    assert second.raw["rlm"]["conversation_id"] == conversation
    # a different history is another conversation, with a REPL of its own
    other = llm.chat([user("hi"), ChatMessage(role="assistant", content="hey"), user("x")])
    assert other.raw["rlm"]["conversation_id"] != conversation


def test_identical_histories_never_share_a_repl() -> None:
    inner, _ = scripted_llm([*REMEMBER, *REMEMBER, code("print(1)"), "FINAL: fresh"])
    llm = RLMLLM(llm=inner)
    one = llm.chat([user("Remember a number")])
    two = llm.chat([user("Remember a number")])
    assert one.raw["rlm"]["conversation_id"] != two.raw["rlm"]["conversation_id"]

    # both conversations would match this history: neither continues, a new one starts
    third = llm.chat([user("Remember a number"), one.message, user("What was it?")])
    assert third.message.content == "fresh"
    assert third.raw["rlm"]["conversation_id"] not in (
        one.raw["rlm"]["conversation_id"],
        two.raw["rlm"]["conversation_id"],
    )


def test_a_named_conversation_continues_whatever_the_messages() -> None:
    inner, _ = scripted_llm([*REMEMBER, code("FINAL(str(secret))"), code("print(P)"), "FINAL: x"])
    llm = RLMLLM(llm=inner)

    with llm.conversation("alice"):
        llm.chat([user("Remember a number")])
        assert llm.complete("What was it?").text == "14638"
    assert llm.chat([user("Who?")], conversation_id="bob").raw["rlm"]["conversation_id"] == "bob"
    assert llm.sessions is not None and "alice" in llm.sessions and "bob" in llm.sessions
    alice = llm.sessions.session("alice")
    assert alice is not None and len(alice.turns) == 2
    assert llm.sessions.close("alice") and alice.closed


def test_prompt_calls_outside_a_named_conversation_keep_no_session() -> None:
    inner, _ = scripted_llm([code("print(P)"), "FINAL: done"])
    llm = RLMLLM(llm=inner)
    assert llm.complete("Say done").text == "done"
    assert llm.sessions is not None and len(llm.sessions) == 0


def test_idle_conversations_are_closed() -> None:
    clock = Clock()
    sessions = ChatSessions(idle_timeout=60, clock=clock)
    inner, _ = scripted_llm([*REMEMBER, code("print(P)"), "FINAL: starts over"])
    llm = RLMLLM(llm=inner, sessions=sessions)
    first = llm.chat([user("Remember a number")])
    session = sessions.session(first.raw["rlm"]["conversation_id"])
    assert session is not None

    clock.now += 59
    assert sessions.close_idle() == 0
    clock.now += 2
    assert sessions.close_idle() == 1
    assert session.closed and len(sessions) == 0
    # the conversation goes on in a new session, its history as the text to read
    again = llm.chat([user("Remember a number"), first.message, user("What was it?")])
    assert again.message.content == "starts over"


def test_the_idle_timer_closes_sessions_without_further_calls() -> None:
    sessions = ChatSessions(idle_timeout=0.2)
    inner, _ = scripted_llm(REMEMBER)
    llm = RLMLLM(llm=inner, sessions=sessions)
    reply = llm.chat([user("Remember a number")])
    session = sessions.session(reply.raw["rlm"]["conversation_id"])
    assert session is not None

    deadline = time.monotonic() + 10
    while len(sessions) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert len(sessions) == 0 and session.closed


def test_the_number_of_open_sessions_is_bounded() -> None:
    clock = Clock()
    sessions = ChatSessions(max_sessions=2, idle_timeout=None, clock=clock)
    inner, _ = scripted_llm([*REMEMBER, *RECALL, *REMEMBER, *REMEMBER])
    llm = RLMLLM(llm=inner, sessions=sessions)

    def ask(text: str, **kwargs: str) -> str:
        clock.now += 1
        return str(llm.chat([user(text)], **kwargs).raw["rlm"]["conversation_id"])

    ask("Remember a number", conversation_id="long")
    ask("What was it?", conversation_id="long")
    first_short = ask("Remember a number")
    second_short = ask("Remember another")
    # over the limit, a one-turn conversation goes before an older multi-turn one
    assert "long" in sessions and second_short in sessions
    assert first_short not in sessions and len(sessions) == 2


def test_a_failed_first_turn_keeps_no_session() -> None:
    inner, _ = scripted_llm([])  # the model fails at once
    llm = RLMLLM(llm=inner)
    with pytest.raises(Exception, match="root script used up"):
        llm.chat([user("Remember a number")])
    assert llm.sessions is not None and len(llm.sessions) == 0


def test_a_busy_named_conversation_refuses_a_parallel_turn() -> None:
    inner, _ = scripted_llm(REMEMBER)
    llm = RLMLLM(llm=inner)
    llm.chat([user("Remember a number")], conversation_id="c")
    sessions = llm.sessions
    assert sessions is not None
    held = sessions.begin("c", (), lambda: pytest.fail("must not open"))
    try:
        with pytest.raises(SessionError, match="already answering"):
            llm.chat([user("again")], conversation_id="c")
    finally:
        sessions.end(held)


def test_without_sessions_every_reply_is_a_fresh_run() -> None:
    inner, script = scripted_llm([*REMEMBER, code("print(P[:80])"), "FINAL: fresh"])
    llm = RLMLLM(llm=inner, sessions=False)
    engine = chat_engine(llm)
    engine.chat("Remember a number")
    assert str(engine.chat("What was it?")) == "fresh"
    assert llm.sessions is None
    assert script.root_prompts[2].startswith("Question: What was it?")
    with pytest.raises(ConfigError, match="sessions=False"):
        llm.chat([user("x")], conversation_id="c")


def test_bad_session_settings_name_the_fix() -> None:
    with pytest.raises(ConfigError, match="max_sessions"):
        ChatSessions(max_sessions=0)
    with pytest.raises(ConfigError, match="idle_timeout"):
        ChatSessions(idle_timeout=-1)
    inner, _ = scripted_llm()
    with pytest.raises(ConfigError, match="sessions must be"):
        RLMLLM(llm=inner, sessions="yes")
    with pytest.raises(ConfigError, match="conversation_id must be"):
        RLMLLM(llm=inner).chat([user("x")], conversation_id="")


def test_an_unused_rlmllm_and_its_sessions_can_be_collected() -> None:
    inner, _ = scripted_llm(REMEMBER)
    llm = RLMLLM(llm=inner)
    llm.chat([user("Remember a number")])
    assert llm.sessions is not None and len(llm.sessions) == 1
    pool = weakref.ref(llm.sessions)  # the idle timer is armed, and must not keep it alive

    del llm
    gc.collect()
    assert pool() is None


def test_a_retriever_backed_conversation_reads_earlier_hits_in_later_turns() -> None:
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    search = code("hits = es_search('launch code', top_k=3)\nprint(len(hits))")
    read = code("FINAL(str(sum(len(es_get(h['doc_id'])['content']) > 0 for h in hits)))")
    inner, script = scripted_llm([search, "FINAL: found some", read])
    llm = RLMLLM(llm=inner, retriever=index.as_retriever(similarity_top_k=3))
    engine = chat_engine(llm)

    assert str(engine.chat("Search the reports")) == "found some"
    # turn 2 reads, through the conversation's own retriever, the hits turn 1 kept
    assert str(engine.chat("How many could you read?")) == "3"
    assert "Question: How many could you read?" in script.root_prompts[-1]
