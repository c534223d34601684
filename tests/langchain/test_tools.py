"""ChatRLM.bind_tools and with_structured_output, built on rlm-core's structured answers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.runnables import RunnableConfig
from langchain_core.tools import tool
from langgraph.graph import START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from pydantic import BaseModel, Field
from typing_extensions import TypedDict

from rlm_core import OutputValidationError
from rlm_langchain import ChatRLM

from .conftest import Recorder, fenced, scripted
from .schema_root import SchemaFillingRoot

WEATHER_TEXT = "Weather notes. Paris: ask the weather service. Rome: sunny."
LOOK = fenced("print(grep('Paris', window=30))")


@tool
def get_weather(city: str) -> str:
    """The current weather of a city."""
    return f"rain in {city}"


def _final(value: Any) -> str:
    return "FINAL: " + json.dumps(value)


def _call(name: str, **args: Any) -> dict[str, Any]:
    return {"name": name, "args": args}


def test_the_answer_can_be_tool_calls() -> None:
    root = scripted(LOOK, _final({"tool_calls": [_call("get_weather", city="Paris")]}))
    chat = ChatRLM(llm=root, context=WEATHER_TEXT).bind_tools([get_weather])
    reply = chat.invoke("What is the weather in Paris?")
    assert isinstance(reply, AIMessage)
    ((call),) = reply.tool_calls
    assert (call["name"], call["args"]) == ("get_weather", {"city": "Paris"})
    assert call["id"] and reply.response_metadata["finish_reason"] == "tool_calls"


async def test_streamed_tool_calls_arrive_as_tool_call_chunks() -> None:
    root = scripted(LOOK, _final({"tool_calls": [_call("get_weather", city="Rome")]}))
    chat = ChatRLM(llm=root, context=WEATHER_TEXT).bind_tools([get_weather])
    chunks = [chunk async for chunk in chat.astream("Weather in Rome?")]
    merged = chunks[0]
    for chunk in chunks[1:]:
        merged = merged + chunk
    assert [(c["name"], c["args"]) for c in merged.tool_calls] == [
        ("get_weather", {"city": "Rome"})
    ]


def test_an_unknown_tool_gets_one_repair_turn(recorder: Recorder) -> None:
    root = scripted(
        LOOK,
        _final({"tool_calls": [_call("get_forecast", city="Paris")]}),
        _final({"tool_calls": [_call("get_weather", city="Paris")]}),
    )
    chat = ChatRLM(llm=root, context=WEATHER_TEXT).bind_tools([get_weather], tool_choice="any")
    reply = chat.invoke("Weather in Paris?", config={"callbacks": [recorder]})
    assert reply.tool_calls[0]["name"] == "get_weather"
    repair_prompt = recorder.prompts[recorder.of("chat")[-1].run_id][-1].text
    assert "unknown tool 'get_forecast'" in repair_prompt


def test_tool_choice_must_name_a_bound_tool() -> None:
    chat = ChatRLM(llm=scripted("x"), context=WEATHER_TEXT)
    with pytest.raises(ValueError, match="not one of the bound tools"):
        chat.bind_tools([get_weather], tool_choice="get_forecast")


@pytest.mark.parametrize(
    "last_reply", [_final({"answer": "It rains in Paris."}), "FINAL: It rains in Paris."]
)
def test_a_langgraph_tool_node_runs_the_calls_and_the_next_turn_sees_the_result(
    recorder: Recorder, last_reply: str
) -> None:
    root = scripted(
        LOOK,
        _final({"tool_calls": [_call("get_weather", city="Paris")]}),
        fenced("print(QUERY)"),
        last_reply,
    )
    chat = ChatRLM(llm=root, context=WEATHER_TEXT).bind_tools([get_weather])

    def agent(state: MessagesState) -> dict[str, list[BaseMessage]]:
        return {"messages": [chat.invoke(state["messages"])]}

    builder = StateGraph(MessagesState)
    builder.add_node("agent", agent)
    builder.add_node("tools", ToolNode([get_weather]))
    builder.add_edge(START, "agent")
    builder.add_conditional_edges("agent", tools_condition)
    builder.add_edge("tools", "agent")
    state = builder.compile().invoke(
        {"messages": [HumanMessage("What is the weather in Paris?")]},
        config={"callbacks": [recorder]},
    )
    kinds = [type(message).__name__ for message in state["messages"]]
    assert kinds == ["HumanMessage", "AIMessage", "ToolMessage", "AIMessage"]
    assert isinstance(state["messages"][2], ToolMessage)
    assert state["messages"][-1].text == "It rains in Paris."
    second_turn_roots = [
        messages
        for messages in recorder.prompts.values()
        if any("[result of tool get_weather] rain in Paris" in m.text for m in messages)
    ]
    assert second_turn_roots  # the tool's result reached the root model on the next turn


PLAIN = "FINAL: It rains in Paris."


def test_a_plain_text_answer_is_an_answer_without_calls() -> None:
    chat = ChatRLM(llm=scripted(LOOK, PLAIN), context=WEATHER_TEXT).bind_tools([get_weather])
    reply = chat.invoke("What is the weather in Paris?")
    assert (reply.text, reply.tool_calls) == ("It rains in Paris.", [])
    assert reply.response_metadata["finish_reason"] == "stop"


@pytest.mark.parametrize("tool_choice", ["required", "get_weather"])
def test_a_required_call_still_refuses_plain_text(tool_choice: str) -> None:
    chat = ChatRLM(llm=scripted(LOOK, PLAIN, PLAIN), context=WEATHER_TEXT)
    bound = chat.bind_tools([get_weather], tool_choice=tool_choice)
    with pytest.raises(OutputValidationError, match="the answer is not JSON"):
        bound.invoke("What is the weather in Paris?")


@pytest.mark.parametrize("tool_choice", ["none", {"type": "none"}])
def test_tool_choice_none_is_a_plain_run(recorder: Recorder, tool_choice: Any) -> None:
    calls = _final({"tool_calls": [_call("get_weather", city="Paris")]})
    chat = ChatRLM(llm=scripted(LOOK, calls, LOOK, PLAIN), context=WEATHER_TEXT)
    bound = chat.bind_tools([get_weather], tool_choice=tool_choice)
    config: RunnableConfig = {"callbacks": [recorder]}
    reply = bound.invoke("What is the weather in Paris?", config=config)
    assert (reply.text, reply.tool_calls) == (calls.removeprefix("FINAL: "), [])
    streamed = "".join(chunk.text for chunk in bound.stream("Weather in Paris?"))
    assert streamed == "It rains in Paris."
    prompts = [m.text for messages in recorder.prompts.values() for m in messages]
    assert not any("get_weather" in text or "JSON matching" in text for text in prompts)


def test_parallel_tool_calls_false_keeps_the_first_call(recorder: Recorder) -> None:
    paris, rome = _call("get_weather", city="Paris"), _call("get_weather", city="Rome")
    chat = ChatRLM(llm=scripted(LOOK, _final({"tool_calls": [paris, rome]})), context=WEATHER_TEXT)
    bound = chat.bind_tools([get_weather], parallel_tool_calls=False)
    reply = bound.invoke("Weather in Paris and Rome?", config={"callbacks": [recorder]})
    assert [(call["name"], call["args"]) for call in reply.tool_calls] == [
        ("get_weather", {"city": "Paris"})
    ]
    prompts = [m.text for messages in recorder.prompts.values() for m in messages]
    assert any("Call at most one tool per reply." in text for text in prompts)


def test_strict_schemas_refuse_undeclared_arguments(recorder: Recorder) -> None:
    root = scripted(
        LOOK,
        _final({"tool_calls": [_call("get_weather", city="Paris", units="C")]}),
        _final({"tool_calls": [_call("get_weather", city="Paris")]}),
    )
    chat = ChatRLM(llm=root, context=WEATHER_TEXT).bind_tools([get_weather], strict=True)
    reply = chat.invoke("Weather in Paris?", config={"callbacks": [recorder]})
    assert reply.tool_calls[0]["args"] == {"city": "Paris"}
    repair_prompt = recorder.prompts[recorder.of("chat")[-1].run_id][-1].text
    assert "takes no arguments ['units']" in repair_prompt


class Forecast(BaseModel):
    """A weather forecast."""

    city: str = Field(description="The city")
    sky: str = Field(description="The sky, e.g. sunny")


class ForecastDict(TypedDict):
    city: str
    sky: str


FORECAST_REPLY = _final({"tool_calls": [_call("Forecast", city="Rome", sky="sunny")]})


def test_with_structured_output_pydantic() -> None:
    chat = ChatRLM(llm=scripted(LOOK, FORECAST_REPLY), context=WEATHER_TEXT)
    forecast = chat.with_structured_output(Forecast).invoke("Forecast for Rome?")
    assert forecast == Forecast(city="Rome", sky="sunny")


def test_with_structured_output_typed_dict_and_json_schema() -> None:
    reply = _final({"tool_calls": [_call("ForecastDict", city="Rome", sky="sunny")]})
    chat = ChatRLM(llm=scripted(LOOK, reply), context=WEATHER_TEXT)
    assert chat.with_structured_output(ForecastDict).invoke("Rome?") == {
        "city": "Rome",
        "sky": "sunny",
    }
    schema = {
        "title": "forecast",
        "description": "A forecast",
        "type": "object",
        "properties": {"city": {"type": "string"}, "sky": {"type": "string"}},
        "required": ["city", "sky"],
    }
    reply = _final({"tool_calls": [_call("forecast", city="Rome", sky="sunny")]})
    chat = ChatRLM(llm=scripted(LOOK, reply), context=WEATHER_TEXT)
    assert chat.with_structured_output(schema).invoke("Rome?") == {"city": "Rome", "sky": "sunny"}


def test_with_structured_output_include_raw() -> None:
    chat = ChatRLM(llm=scripted(LOOK, FORECAST_REPLY), context=WEATHER_TEXT)
    result = chat.with_structured_output(Forecast, include_raw=True).invoke("Rome?")
    assert result["parsed"] == Forecast(city="Rome", sky="sunny")
    assert result["parsing_error"] is None
    assert isinstance(result["raw"], AIMessage) and result["raw"].tool_calls


class _TopLevelOptions(BaseCallbackHandler):
    """Records the options of the RLM's own chat-model run, not its children's (``nostream``)."""

    def __init__(self) -> None:
        self.options: list[dict[str, Any]] = []

    def on_chat_model_start(
        self, serialized: Any, messages: Any, *, tags: Any = None, **kwargs: Any
    ) -> None:
        if "nostream" not in (tags or []):
            self.options.append(kwargs.get("options") or {})


@pytest.mark.parametrize("stream", [False, True])
def test_structured_output_reports_its_format_on_the_rlm_run(stream: bool) -> None:
    """What the standard suite's test_structured_output checks, on the RLM's own run."""
    chat = ChatRLM(llm=SchemaFillingRoot(), context=WEATHER_TEXT)
    structured = chat.with_structured_output(Forecast)
    handler = _TopLevelOptions()
    config: RunnableConfig = {"callbacks": [handler]}
    if stream:
        chunks = list(structured.stream("Forecast for 'Rome'?", config=config))
        result = chunks[-1]
    else:
        result = structured.invoke("Forecast for 'Rome'?", config=config)
    assert result == Forecast(city="Rome", sky="Rome")
    (options,) = handler.options
    assert options["ls_structured_output_format"]["schema"]["title"] == "Forecast"
    assert options["ls_structured_output_format"]["kwargs"] == {"method": "function_calling"}
