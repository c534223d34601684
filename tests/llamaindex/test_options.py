"""RLM options in the LlamaIndex classes: ``ConfigError`` at construction, and
``options=RLMOptions(...)`` passed on to the engine."""

from __future__ import annotations

import pytest

from rlm_core import PROFILES, ConfigError, Policy, RLMOptions
from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, scripted_llm


def test_query_engine_rejects_bad_options_with_config_error() -> None:
    llm, _ = scripted_llm(["FINAL: x"])
    with pytest.raises(ConfigError, match=r"pass policy=Policy\(max_steps=\.\.\.\)"):
        RLMQueryEngine(llm=llm, documents=DOCS, max_steps=3)
    with pytest.raises(ConfigError, match="did you mean 'max_output_chars'"):
        RLMQueryEngine(llm=llm, documents=DOCS, max_output_char=100)
    with pytest.raises(ConfigError, match="parallel_subcalls must be True or False"):
        RLMQueryEngine(llm=llm, documents=DOCS, options=RLMOptions(), parallel_subcalls="on")
    with pytest.raises(ConfigError, match=r"do not pass retriever=.*LlamaIndex BaseRetriever"):
        RLMQueryEngine(llm=llm, documents=DOCS, options=RLMOptions(retriever=None))


def test_options_object_is_passed_to_the_engine() -> None:
    llm, script = scripted_llm([code("print(1)")] * 2 + ["FINAL: best guess"])
    options = RLMOptions(policy=Policy(max_steps=2), repl_backend="python")
    engine = RLMQueryEngine(llm=llm, documents=DOCS, options=options)
    assert engine.query("q").response == "best guess"  # finalized at the step limit
    assert len(script.root_prompts) == 3


def test_the_profile_reaches_the_engine_and_its_prompt() -> None:
    llm, script = scripted_llm([code("answer = 'from code'")])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, profile="small", repl_backend="python")
    small = PROFILES["small"].prompts
    assert engine.get_prompts()["system_prompt"].get_template() == small.system_template()
    response = engine.query("q")
    assert response.response == "from code"  # the profile's auto_finalize_var="answer"
    assert response.metadata["trace"]["metadata"]["settings"]["profile"] == "small"
    assert len(script.root_prompts) == 1
