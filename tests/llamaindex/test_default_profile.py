"""``RLMQueryEngine`` picks the profile that fits the LLM's declared context window
(``LLMMetadata.context_window``) unless a profile is given."""

from __future__ import annotations

from rlm_llamaindex import RLMQueryEngine

from .helpers import DOCS, code, scripted_llm


def test_a_small_window_llm_gets_the_small_profile_and_the_trace_says_so() -> None:
    llm, script = scripted_llm([code("answer = 'from code'")])
    window = llm.metadata.context_window  # MockLLM's 3900 tokens
    response = RLMQueryEngine(llm=llm, documents=DOCS, repl_backend="python").query("q")
    assert response.response == "from code"  # the small profile's auto_finalize_var
    settings = response.metadata["trace"]["metadata"]["settings"]
    assert settings["profile"] == "small"
    assert f"{window} tokens" in settings["profile_chosen"]["why"]
    assert len(script.root_prompts) == 1


def test_an_explicit_profile_wins() -> None:
    llm, _ = scripted_llm(["FINAL: direct"])
    engine = RLMQueryEngine(llm=llm, documents=DOCS, profile="default", repl_backend="python")
    response = engine.query("q")
    assert response.response == "direct"  # no require_repl_before_final under default
    assert response.metadata["trace"]["metadata"]["settings"]["profile"] == "default"
