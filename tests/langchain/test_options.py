"""RLM options in the LangChain classes: the same ``ConfigError`` as ``rlm_core.RLM``, at
construction, and ``options=RLMOptions(...)`` passed on to the engine."""

from __future__ import annotations

import pytest

from rlm_core import ConfigError, Policy, RLMOptions
from rlm_core.adapters import FakeAdapter
from rlm_langchain import ChatRLM, RLMRunnable

from .conftest import CONTEXT, fenced, scripted


def test_runnable_rejects_bad_options_with_config_error() -> None:
    with pytest.raises(ConfigError, match=r"pass policy=Policy\(max_steps=\.\.\.\)"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, max_steps=3)
    with pytest.raises(ConfigError, match="did you mean 'temperature'"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, temprature=0.5)
    with pytest.raises(ConfigError, match="max_output_tokens must be an int >= 1, got 0"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, options=RLMOptions(), max_output_tokens=0)
    with pytest.raises(ConfigError, match="compaction needs the model's context window"):
        RLMRunnable(llm=scripted("x"), context=CONTEXT, compaction=True)


def test_chat_model_rejects_bad_options_with_config_error() -> None:
    with pytest.raises(ConfigError, match="temperature must be between 0 and 2, got 5"):
        ChatRLM(llm=scripted("x"), context=CONTEXT, rlm_options={"temperature": 5})
    with pytest.raises(ConfigError, match=r"'max_steps' is a Policy limit"):
        ChatRLM(llm=scripted("x"), context=CONTEXT, rlm_options={"max_steps": 2})
    with pytest.raises(ConfigError, match=r"do not pass subcall_adapter=.*pass sub_llm="):
        ChatRLM(
            llm=scripted("x"), context=CONTEXT, options=RLMOptions(subcall_adapter=FakeAdapter())
        )
    with pytest.raises(ConfigError, match="options must be an RLMOptions"):
        ChatRLM(llm=scripted("x"), context=CONTEXT, options={"temperature": 1})


@pytest.mark.parametrize("how", ["options", "rlm_options"])
def test_options_object_is_passed_to_the_core(how: str) -> None:
    root = scripted("no code here")  # never gives code or FINAL
    options = RLMOptions(policy=Policy(max_steps=2), invalid_response_limit=5)
    runnable = RLMRunnable(llm=root, context=CONTEXT, **{how: options})
    assert runnable.rlm_options["policy"].max_steps == 2
    # two steps, then one finalize request: three replies of the 1-reply cycle
    assert runnable.invoke("q") == "no code here"
    assert root.i == 0


def test_chat_model_passes_the_options_object_on() -> None:
    root = scripted("no code here")
    chat = ChatRLM(
        llm=root,
        context=CONTEXT,
        options=RLMOptions(policy=Policy(max_steps=1), invalid_response_limit=5),
    )
    assert chat.invoke("q").content == "no code here"
    assert chat.rlm_options["invalid_response_limit"] == 5


def test_the_profile_is_passed_on_and_recorded_in_the_trace() -> None:
    runnable = RLMRunnable(
        llm=scripted(fenced("answer = '4711'")),
        context=CONTEXT,
        profile="small",
        repl_backend="python",
        return_trace=True,
    )
    result = runnable.invoke("code?")
    assert result.answer == "4711"  # the profile's auto_finalize_var="answer"
    assert result.trace.metadata["settings"]["profile"] == "small"
    settings = result.trace.metadata["settings"]
    assert settings["explicit"]["repl_backend"] == "python"
    assert settings["from_profile"]["invalid_response_limit"] == 2
