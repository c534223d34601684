"""Settings profiles (``RLM(profile=...)``), named prompt parts, and the trace saying which
settings a run used."""

from __future__ import annotations

import json

import pytest

from rlm_core import (
    PROFILES,
    RLM,
    ConfigError,
    Event,
    Policy,
    PromptParts,
    RLMOptions,
    SmartRouter,
    Trace,
)
from rlm_core.adapters import FakeAdapter
from rlm_core.engine.prompts import BASE_SYSTEM_PROMPT, DEFAULT_PROMPTS
from rlm_core.profiles import SMALL_EXAMPLE, SMALL_SUB_SYSTEM, rescue_code

from tests.core.helpers import SUB, code, make_rlm

TEXT = (
    "Harbour notes. " * 40
    + "The lighthouse keeper is named Ottoline Vance. "
    + "Gulls and tides. " * 40
    + "The ferry timetable lists departures at 07:15. "
    + "More notes. " * 40
)


def test_the_default_profile_changes_nothing() -> None:
    adapter = FakeAdapter()
    default = RLM(adapter).settings
    assert RLM(adapter, profile="default").settings == default
    assert default.prompts == DEFAULT_PROMPTS and default.system_prompt is None
    assert default.guards.invalid_response_limit is None and default.max_output_chars == 4000
    assert f"{DEFAULT_PROMPTS.root}\n\n{DEFAULT_PROMPTS.example}" == BASE_SYSTEM_PROMPT


def test_small_profile_swaps_the_example_and_sets_its_guards() -> None:
    rlm, adapter = make_rlm([code("answer = 'x'")], profile="small")
    settings = rlm.settings
    assert settings.guards.require_repl_before_final
    assert settings.guards.invalid_response_limit == 2
    assert (settings.auto_finalize_var, settings.max_output_chars) == ("answer", 2000)
    assert rlm.run("q", TEXT)[0] == "x"  # ended as soon as answer was set
    system = adapter.calls[0][0]["content"]
    assert system.endswith(SMALL_EXAMPLE)
    assert "FINAL: March 3, 2021" not in system  # the core example is gone
    assert "cut to 2000 characters" in system
    # Its "how to work" points at the example first, and the first message says so too.
    assert "first run the example's code" in system and "first look at the data" not in system
    assert system.startswith(DEFAULT_PROMPTS.root.split("{helpers}")[0])
    assert "}\n\nStart with the example's code." in adapter.calls[0][1]["content"]
    plain, plain_adapter = make_rlm([code("answer = 'x'"), "FINAL: x"])
    plain.run("q", TEXT)
    first = plain_adapter.calls[0][1]["content"]
    assert "}\n\nStart by writing code to look at the data." in first


def test_small_profile_asks_sub_models_to_copy_the_answer() -> None:
    rlm, adapter = make_rlm(
        [code("answer = llm_query('Text:\\nThe code is 7.\\n\\nQuestion: What code?')")],
        profile="small",
    )
    adapter.add_rule(SUB, "7")  # the prefix scripted models look for is kept
    assert rlm.run("q", TEXT)[0] == "7"
    (sub_call,) = [call for call in adapter.calls if call[0]["content"].startswith(SUB)]
    assert sub_call[0]["content"] == SMALL_SUB_SYSTEM
    assert "copied exactly from the text" in SMALL_SUB_SYSTEM
    assert SMALL_SUB_SYSTEM.endswith("NOT FOUND")  # helpers that skip NOT FOUND still work


def test_explicit_options_win_over_the_profile() -> None:
    rlm, _ = make_rlm([], profile="small", max_output_chars=3000, fallback_code=None)
    assert rlm.settings.max_output_chars == 3000
    assert rlm.settings.guards.fallback_code is None  # explicitly off
    assert rlm.settings.guards.invalid_response_limit == 2  # still the profile's
    shared = RLMOptions(profile="small", invalid_response_limit=4)
    settings = RLM(FakeAdapter(), options=shared, auto_finalize_var="result").settings
    assert settings.guards.invalid_response_limit == 4
    assert settings.auto_finalize_var == "result"
    assert settings.guards.require_repl_before_final
    custom = PromptParts(example="Example: none.")
    assert RLM(FakeAdapter(), profile="small", prompts=custom).settings.prompts is custom


def test_router_passes_the_profile_on_under_its_execution_profile() -> None:
    router = SmartRouter(FakeAdapter(), profile="small", invalid_response_limit=3)
    settings = router.rlm_for("semantic_batches").settings  # type: ignore[arg-type]
    assert settings.parallel_subcalls  # the execution profile's engine option
    assert settings.guards.invalid_response_limit == 3  # yours
    assert settings.auto_finalize_var == "answer"  # the settings profile's
    assert settings.prompts.example == SMALL_EXAMPLE and "ask_chunks" in settings.prompts.guidance


def test_unknown_profile_lists_the_profiles() -> None:
    with pytest.raises(ConfigError, match="unknown profile 'tiny'; choose one of 'default', 's"):
        RLM(FakeAdapter(), profile="tiny")
    with pytest.raises(ConfigError, match="unknown profile"):
        SmartRouter(FakeAdapter(), options=RLMOptions(profile="large"))
    with pytest.raises(ConfigError, match=r"prompts must be a rlm_core\.PromptParts"):
        RLM(FakeAdapter(), prompts={"example": "x"})
    with pytest.raises(ConfigError, match=r"PromptParts\.finalize must be a str"):
        PromptParts(finalize=None)  # type: ignore[arg-type]
    assert set(PROFILES) == {"default", "small"}


def test_small_profile_builds_its_fallback_from_each_runs_question() -> None:
    adapter = FakeAdapter(default="I am not sure.")  # never code, never FINAL
    adapter.add_rule(SUB, "from the text")
    rlm = RLM(adapter, profile="small", repl_backend="python")
    for question, word in (
        ("Who is the lighthouse keeper?", "lighthouse"),
        ("When does the ferry depart?", "ferry"),
    ):
        answer, trace = rlm.run(question, TEXT)
        assert answer == "from the text"
        fallback = [s for s in trace.steps if s.metadata.get("purpose") == "fallback"]
        assert len(fallback) == 1
        assert fallback[0].code == rescue_code(question)
        assert word in (fallback[0].stdout or "")  # grep found this run's passage
        assert question in adapter.calls[-1][-1]["content"]  # asked about this question


def test_prompt_parts_reach_sub_calls_and_finalize() -> None:
    parts = PromptParts(sub_system="Reply in one word.", finalize="Enough ({reason}). FINAL: now")
    rlm, adapter = make_rlm(
        [code("print(llm_query('hi'))"), code("print(2)"), "FINAL: done"],
        prompts=parts,
        policy=Policy(max_steps=2),
    )
    adapter.add_rule("Reply in one word.", "hello")
    answer, _ = rlm.run("q", TEXT)
    assert answer == "done"
    assert any(call[0]["content"] == "Reply in one word." for call in adapter.calls)
    assert adapter.calls[-1][-1]["content"].endswith(
        "Enough (the run used all 2 steps (Policy.max_steps)). FINAL: now"
    )


def test_the_trace_records_the_profile_and_settings() -> None:
    events: list[Event] = []
    rlm, _ = make_rlm(
        [code("answer = 1")], profile="small", max_output_chars=3000, event_listener=events.append
    )
    _, trace = rlm.run("q", TEXT)
    settings = trace.metadata["settings"]
    assert settings["profile"] == "small"
    assert settings["explicit"]["max_output_chars"] == 3000
    assert settings["explicit"]["repl_backend"] == "python"
    assert "max_output_chars" not in settings["from_profile"]
    assert settings["from_profile"]["invalid_response_limit"] == 2
    assert settings["from_profile"]["fallback_code"] == "<function rescue_code>"
    assert settings["from_profile"]["prompts"] == {
        "changed_parts": ["root", "example", "sub_system", "first_step"]
    }
    start = next(event for event in events if event.type == "run_start")
    assert start.data["settings"] == settings
    assert Trace.from_json(trace.to_json()).metadata["settings"] == json.loads(json.dumps(settings))


def test_the_default_trace_says_default() -> None:
    rlm, _ = make_rlm(["FINAL: x"])
    _, trace = rlm.run("q", TEXT)
    assert trace.metadata["settings"] == {
        "profile": "default",
        "from_profile": {},
        "explicit": {"repl_backend": "python"},
    }


def test_the_small_example_copied_as_written_gathers_both_facts_of_a_chain() -> None:
    example_code = SMALL_EXAMPLE.split("```python\n", 1)[1].split("```", 1)[0]
    text = (
        "Gulls and tides. " * 60
        + "The Kestrel group is led by Dana Whitfield. "
        + "Harbour notes. " * 60
        + "Project Quartz-12 is run by the Kestrel group. "
        + "More notes. " * 60
    )
    adapter = FakeAdapter(script=[f"```python\n{example_code}```"])
    # The sub-model can only name the lead when both facts reach it.
    adapter.add_rule("Kestrel group is led by Dana Whitfield", "Dana Whitfield")
    rlm = RLM(adapter, profile="small", repl_backend="python")
    answer, trace = rlm.run("Who leads the group that runs project Quartz-12?", text)
    assert answer == "Dana Whitfield"
    (step,) = trace.of_kind("repl_exec")
    assert step.metadata["purpose"] == "step" and "Dana Whitfield" in (step.stdout or "")
    sub_prompt = adapter.calls[-1][-1]["content"]
    assert sub_prompt.startswith("Text:\nProject Quartz-12 is run by the Kestrel group.\n")
    assert sub_prompt.endswith("Question: Who leads the group that runs project Quartz-12?")
