"""``RLMLLM``: an RLM as ``Settings.llm`` and behind LlamaIndex's own chat engines."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from llama_index.core import Document, Settings, VectorStoreIndex
from llama_index.core.callbacks import (
    CallbackManager,
    CBEventType,
    LlamaDebugHandler,
    TokenCountingHandler,
)
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.llms import LLM, ChatMessage

from rlm_core import ConfigError, ContextError
from rlm_llamaindex import RLMLLM

from .helpers import DOCS, code, scripted_llm, usage_llm

GREP = code('print(grep("launch code", window=60))')


def test_is_a_llamaindex_llm_with_metadata() -> None:
    rlm = RLMLLM(llm=scripted_llm()[0], max_output_tokens=300)
    assert isinstance(rlm, LLM)
    assert rlm.metadata.is_chat_model and rlm.metadata.num_output == 300
    assert rlm.metadata.model_name.startswith("rlm:")


def test_simple_chat_engine_over_settings_llm() -> None:
    inner, script = scripted_llm(
        [code("print(P)"), "FINAL: hello there", GREP, "FINAL: you said hi"]
    )
    Settings.llm = RLMLLM(llm=inner)
    engine = SimpleChatEngine.from_defaults()

    assert str(engine.chat("Say hello")) == "hello there"
    # alone, the prompt is the text P; the run is asked to do what it says
    assert "Say hello" in script.root_prompts[1]
    second = engine.chat("What did I say?")
    assert str(second) == "you said hi"
    # the second turn runs in the first one's session; the question is the new message
    assert script.root_prompts[2].startswith("This is turn 2 of a conversation")
    assert "Question: What did I say?" in script.root_prompts[2]


def test_stream_chat_through_the_chat_engine() -> None:
    inner, _ = scripted_llm([code("print(P[:20])"), "FINAL: streamed reply here"])
    engine = SimpleChatEngine.from_defaults(llm=RLMLLM(llm=inner))

    response = engine.stream_chat("Tell me")

    assert "".join(response.response_gen) == "streamed reply here"


async def test_achat_and_astream_chat() -> None:
    inner, _ = scripted_llm([code("print(1)"), "FINAL: one", code("print(2)"), "FINAL: two parts"])
    rlm = RLMLLM(llm=inner)

    reply = await rlm.achat([ChatMessage(role="user", content="first")])
    assert reply.message.content == "one"
    chunks = [
        chunk async for chunk in await rlm.astream_chat([ChatMessage(role="user", content="x")])
    ]
    assert chunks[-1].message.content == "two parts"
    assert "".join(chunk.delta or "" for chunk in chunks) == "two parts"


def test_index_as_chat_engine_reads_the_retrieved_context() -> None:
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    inner, script = scripted_llm([GREP, "FINAL: 7319"])
    engine = index.as_chat_engine(llm=RLMLLM(llm=inner), similarity_top_k=3)

    assert str(engine.chat("What is the launch code?")) == "7319"
    # the chat engine's system prompt with the retrieved nodes is the text the RLM searched
    assert "Heron is 7319" in script.root_prompts[1]


def test_documents_are_searched_and_turns_travel_with_the_question() -> None:
    inner, script = scripted_llm([GREP, "FINAL: 7319", code("print(1)"), "FINAL: again"])
    rlm = RLMLLM(llm=inner, documents=DOCS)
    reply = rlm.chat(
        [
            ChatMessage(role="user", content="hi"),
            ChatMessage(role="assistant", content="hello"),
            ChatMessage(role="user", content="launch code?"),
        ]
    )
    assert reply.message.content == "7319"
    assert "Conversation so far:\nuser: hi\nassistant: hello" in script.root_prompts[0]
    assert "Heron is 7319" in script.root_prompts[1]
    assert rlm.complete("and now?").text == "again"
    assert script.root_prompts[2].startswith("Question: and now?")


@pytest.fixture
def counted() -> Iterator[tuple[LlamaDebugHandler, TokenCountingHandler]]:
    saved = Settings._callback_manager
    debug, counter = LlamaDebugHandler(), TokenCountingHandler()
    Settings.callback_manager = CallbackManager([debug, counter])
    yield debug, counter
    Settings._callback_manager = saved


def test_tokens_are_counted_once_from_the_wrapped_llm(
    counted: tuple[LlamaDebugHandler, TokenCountingHandler],
) -> None:
    debug, counter = counted
    inner, _ = usage_llm([code('print(llm_query("x"))'), "FINAL: done"], sub="y")
    inner.callback_manager = Settings.callback_manager
    Settings.llm = RLMLLM(llm=inner)

    assert str(SimpleChatEngine.from_defaults().chat("go")) == "done"

    assert len(counter.llm_token_counts) == 3  # 2 root calls + 1 sub-call, none for the RLM
    assert counter.total_llm_token_count == 3 * 18
    assert len(debug.get_event_pairs(CBEventType.FUNCTION_CALL)) == 1


def test_bad_use_names_the_fix() -> None:
    inner, _ = scripted_llm()
    rlm = RLMLLM(llm=inner)
    with pytest.raises(ConfigError, match="not an RLMLLM"):
        RLMLLM(llm=rlm)
    with pytest.raises(ContextError, match="non-empty user message"):
        rlm.chat([ChatMessage(role="system", content="only a system prompt")])
