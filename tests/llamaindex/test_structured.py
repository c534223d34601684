"""Structured output from the core's validated answers: ``RLMLLM.structured_predict`` /
``as_structured_llm`` and ``RLMQueryEngine(output_cls=...)``."""

from __future__ import annotations

import json

import pytest
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.base.response.schema import PydanticResponse
from llama_index.core.chat_engine import SimpleChatEngine
from llama_index.core.memory import ChatMemoryBuffer
from llama_index.core.prompts import PromptTemplate
from llama_index.core.tools import QueryEngineTool
from pydantic import BaseModel

from rlm_core import ConfigError, OutputValidationError
from rlm_llamaindex import RLMLLM, RLMQueryEngine

from .helpers import DOCS, EventRecorder, code, scripted_llm

LOOK = code('print(grep("launch code", window=60))')
PROMPT = PromptTemplate("Extract the project and its launch code from: {text}")


class Secret(BaseModel):
    project: str
    code: int


def test_structured_predict_returns_the_validated_object(events: EventRecorder) -> None:
    inner, script = scripted_llm([LOOK, code("FINAL({'project': 'Heron', 'code': '7319'})")])
    llm = RLMLLM(llm=inner)

    secret = llm.structured_predict(Secret, PROMPT, text=DOCS[1])

    assert secret == Secret(project="Heron", code=7319)
    # the prompt is the text P; the root model is shown the schema by the run itself
    assert "JSON matching this schema" in script.root_prompts[0]
    assert '"code"' in script.root_prompts[0]
    assert [e.class_name() for e in events.of("LLMStructuredPredictEndEvent")]
    assert events.of("LLMStructuredPredictEndEvent")[-1].output == secret


def test_an_invalid_answer_is_repaired_once_then_refused() -> None:
    inner, script = scripted_llm(
        [LOOK, 'FINAL: {"project": "Heron"}', 'FINAL: {"project": "Heron", "code": 7319}']
    )
    llm = RLMLLM(llm=inner)
    assert llm.structured_predict(Secret, PROMPT, text=DOCS[1]).code == 7319
    assert "does not match the required schema" in script.root_prompts[2]
    assert "code: Field required" in script.root_prompts[2]

    inner, _ = scripted_llm([LOOK, 'FINAL: {"project": 1}', "FINAL: still not it"])
    with pytest.raises(OutputValidationError, match="does not match Secret") as caught:
        RLMLLM(llm=inner).structured_predict(Secret, PROMPT, text=DOCS[1])
    assert caught.value.trace is not None


async def test_astructured_predict_and_the_stream_variants() -> None:
    final = code("FINAL({'project': 'Heron', 'code': 7319})")
    inner, _ = scripted_llm([LOOK, final, LOOK, final, LOOK, final])
    llm = RLMLLM(llm=inner)

    assert (await llm.astructured_predict(Secret, PROMPT, text=DOCS[1])).code == 7319
    assert list(llm.stream_structured_predict(Secret, PROMPT, text=DOCS[1])) == [
        Secret(project="Heron", code=7319)
    ]
    stream = await llm.astream_structured_predict(Secret, PROMPT, text=DOCS[1])
    assert [item async for item in stream] == [Secret(project="Heron", code=7319)]


def test_as_structured_llm_behind_a_chat_engine_keeps_the_session() -> None:
    remember = [code("found = {'project': 'Heron', 'code': 7319}\nprint(P[:40])")]
    inner, _ = scripted_llm(
        [*remember, "FINAL_VAR: found", code("found['code'] += 1\nFINAL(found)")]
    )
    structured = RLMLLM(llm=inner).as_structured_llm(Secret)

    reply = structured.chat([ChatMessage(role="user", content=DOCS[1])])
    assert reply.raw == Secret(project="Heron", code=7319)
    assert json.loads(str(reply.message.content)) == {"project": "Heron", "code": 7319}

    history = [ChatMessage(role="user", content=DOCS[1]), reply.message]
    memory = ChatMemoryBuffer.from_defaults(chat_history=history, token_limit=4000)
    engine = SimpleChatEngine.from_defaults(llm=structured, memory=memory)
    # the history replays the first turn, so the second runs in its REPL (found is defined)
    second = engine.chat("Add one to the code")
    assert json.loads(str(second)) == {"project": "Heron", "code": 7320}


def test_query_engine_output_cls_gives_a_pydantic_response() -> None:
    inner, _ = scripted_llm([LOOK, 'FINAL: {"project": "Heron", "code": 7319}'])
    engine = RLMQueryEngine.from_defaults(llm=inner, documents=DOCS, output_cls=Secret)

    response = engine.query("Which project has a launch code, and what is it?")

    assert isinstance(response, PydanticResponse)
    assert response.response == Secret(project="Heron", code=7319)
    assert json.loads(str(response)) == {"project": "Heron", "code": 7319}
    assert "Heron is 7319" in response.source_nodes[0].node.get_content()
    assert json.loads(json.dumps(response.metadata))["steps"] >= 2


async def test_query_engine_output_cls_async_with_repair_and_as_a_tool() -> None:
    bad, good = 'FINAL: {"code": 7319}', 'FINAL: {"project": "Heron", "code": 7319}'
    inner, script = scripted_llm([LOOK, bad, good, LOOK, good])
    engine = RLMQueryEngine(llm=inner, documents=DOCS, output_cls=Secret)

    response = await engine.aquery("The launch code?")
    assert isinstance(response, PydanticResponse)
    assert response.response == Secret(project="Heron", code=7319)
    assert "project: Field required" in script.root_prompts[2]

    tool = QueryEngineTool.from_defaults(engine, name="reports", description="Reports")
    output = tool.call("The launch code?")
    assert json.loads(output.content) == {"project": "Heron", "code": 7319}


def test_bad_structured_settings_name_the_fix() -> None:
    inner, _ = scripted_llm()
    with pytest.raises(ConfigError, match="output_cls must be a pydantic model class"):
        RLMQueryEngine(llm=inner, documents=DOCS, output_cls=dict)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="cannot be combined"):
        RLMQueryEngine(llm=inner, documents=DOCS, output_cls=Secret, streaming=True)
    with pytest.raises(ConfigError, match="output_cls must be a pydantic model class"):
        RLMLLM(llm=inner).structured_predict(int, PROMPT, text="x")  # type: ignore[type-var]
