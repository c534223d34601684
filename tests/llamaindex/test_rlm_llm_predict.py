"""``RLMLLM.predict`` and friends: a plain prompt template is one prompt, so no session is kept."""

from __future__ import annotations

from llama_index.core import Document, VectorStoreIndex
from llama_index.core.prompts import PromptTemplate

from rlm_llamaindex import RLMLLM

from .helpers import DOCS, code, scripted_llm

ANSWER = [code("print(P[:40])"), "FINAL: done"]
SUMMARISE = PromptTemplate("Summarise note {n}: the orchard grows apples and pears.")


def test_predict_calls_keep_no_session() -> None:
    inner, _ = scripted_llm(ANSWER * 4)
    llm = RLMLLM(llm=inner)

    assert llm.predict(SUMMARISE, n=1) == "done"
    assert "".join(llm.stream(SUMMARISE, n=2)) == "done"

    assert llm.sessions is not None and len(llm.sessions) == 0


async def test_async_predict_calls_keep_no_session() -> None:
    inner, _ = scripted_llm(ANSWER * 2)
    llm = RLMLLM(llm=inner)

    assert await llm.apredict(SUMMARISE, n=1) == "done"
    assert "".join([token async for token in await llm.astream(SUMMARISE, n=2)]) == "done"

    assert llm.sessions is not None and len(llm.sessions) == 0


def test_predict_in_a_named_conversation_is_a_turn_of_it() -> None:
    inner, _ = scripted_llm(ANSWER)
    llm = RLMLLM(llm=inner)

    with llm.conversation("report"):
        llm.predict(SUMMARISE, n=1)

    assert llm.sessions is not None and "report" in llm.sessions


def test_a_condense_question_chat_engine_condenses_without_a_session() -> None:
    # each turn: the question is condensed with predict of a PromptTemplate (from turn 2 on),
    # then the index's query engine answers with predict of a chat template (one session each)
    index = VectorStoreIndex.from_documents([Document(text=t) for t in DOCS])
    inner, script = scripted_llm(ANSWER * 5)
    llm = RLMLLM(llm=inner)
    engine = index.as_chat_engine(chat_mode="condense_question", llm=llm)

    for question in ("What is Heron's code?", "And the orchard?", "Anything else?"):
        assert str(engine.chat(question)) == "done"

    assert llm.sessions is not None and len(llm.sessions) == 3  # was 5 with condensing
    assert not any("This is turn" in prompt for prompt in script.root_prompts)
