"""SmartRouter: baseline for small contexts, RLM for large ones, profiles shape the run."""

from __future__ import annotations

import pytest

from rlm_core import ConfigError, ExecutionProfile, RouterConfig, SmartRouter
from rlm_core.adapters import FakeAdapter
from rlm_core.router import _GUIDANCE

SMALL = "The capital of France is Paris."
LARGE = ("filler text. " * 800) + "The secret code is 4217. " + ("more filler. " * 200)
FIND_CODE = '```python\nprint(extract_after("The secret code is ", 4))\n```'


def test_small_context_goes_to_one_direct_call() -> None:
    adapter = FakeAdapter(script=["Paris"])
    result = SmartRouter(adapter, config=RouterConfig(baseline_threshold=8000)).run(
        "What is the capital of France?", SMALL
    )
    assert (result.method, result.output, result.trace) == ("baseline", "Paris", None)
    assert len(adapter.calls) == 1
    prompt = adapter.calls[0][-1]["content"]
    assert SMALL in prompt and "What is the capital of France?" in prompt
    assert result.tokens_used == (len(adapter.calls[0][0]["content"]) + len(prompt)) // 4 + 1 + 2


def test_large_context_goes_to_rlm() -> None:
    adapter = FakeAdapter(script=[FIND_CODE, "FINAL: 4217"])
    result = SmartRouter(adapter, config=RouterConfig(baseline_threshold=8000)).run(
        "What is the secret code?", LARGE, profile=ExecutionProfile.DETERMINISTIC_FIRST
    )
    assert result.method == "rlm" and result.output == "4217"
    assert result.trace is not None and result.context_chars == len(LARGE)
    assert result.tokens_used == result.trace.usage.total_tokens > 0
    assert LARGE not in adapter.calls[0][-1]["content"]  # the context stays in the REPL
    assert "solve this with code" in adapter.calls[0][0]["content"]


def test_threshold_is_in_characters() -> None:
    config = RouterConfig(baseline_threshold=len(SMALL))
    adapter = FakeAdapter(script=["```python\nprint(peek(40))\n```", "FINAL: Paris"])
    assert SmartRouter(adapter, config=config).run("Capital?", SMALL).method == "rlm"
    config = RouterConfig(baseline_threshold=len(SMALL) + 1)
    assert SmartRouter(FakeAdapter(default="Paris"), config=config).run(
        "Capital?", SMALL
    ).method == ("baseline")


def test_profiles_shape_the_engine() -> None:
    router = SmartRouter(FakeAdapter(), max_concurrent_subcalls=3)
    semantic = router.rlm_for(ExecutionProfile.SEMANTIC_BATCHES).settings
    assert semantic.parallel_subcalls and semantic.max_concurrent_subcalls == 3
    verify = router.rlm_for(ExecutionProfile.VERIFY).settings
    assert verify.guards.require_subcall_before_final and verify.recursive_subcalls
    deterministic = router.rlm_for(ExecutionProfile.DETERMINISTIC_FIRST).settings
    assert deterministic.guards.require_repl_before_final
    assert not deterministic.parallel_subcalls
    hybrid = router.rlm_for(ExecutionProfile.HYBRID).settings
    assert hybrid.parallel_subcalls and hybrid.guards.require_repl_before_final


def test_explicit_options_win_over_the_profile() -> None:
    adapter = FakeAdapter(script=[FIND_CODE, "FINAL: 4217"])
    router = SmartRouter(adapter, parallel_subcalls=False, system_prompt="Custom {helpers}")
    assert router.rlm_for(ExecutionProfile.SEMANTIC_BATCHES).settings.parallel_subcalls is False
    router.run("Secret code?", LARGE, profile=ExecutionProfile.SEMANTIC_BATCHES)
    system = adapter.calls[0][0]["content"]
    assert system.startswith("Custom Inspect the context:\n- peek(")  # helpers filled in
    assert system.endswith(_GUIDANCE[ExecutionProfile.SEMANTIC_BATCHES])  # guidance appended


def test_verify_profile_requires_a_subcall_before_final() -> None:
    adapter = FakeAdapter(
        script=[
            FIND_CODE,
            "FINAL: 4217",  # rejected: no sub-call yet
            '```python\nprint(ask("Is the code 4217?", extract_after("secret", 30)))\n```',
            # ask() is a recursive sub-run (its own REPL over the text), with the same guards
            '```python\nprint(llm_query("Confirm: " + P))\n```',
            "yes",  # the depth-2 call is a plain sub-call
            "FINAL: yes",  # the sub-run's answer
            "FINAL: 4217",
        ]
    )
    result = SmartRouter(adapter).run("Secret code?", LARGE, profile=ExecutionProfile.VERIFY)
    assert result.output == "4217"
    assert result.trace is not None and result.trace.of_kind("recursive_subcall")
    assert adapter.remaining == 0
    assert any("Do not answer yet: use a sub-model" in c[-1]["content"] for c in adapter.calls)


async def test_arun_both_paths() -> None:
    router = SmartRouter(FakeAdapter(script=["Paris", FIND_CODE, "FINAL: 4217"]))
    assert (await router.arun("Capital?", SMALL)).method == "baseline"
    result = await router.arun("Code?", LARGE, profile=ExecutionProfile.HYBRID)
    assert (result.method, result.output) == ("rlm", "4217")


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="baseline_threshold"):
        RouterConfig(baseline_threshold=0)
    with pytest.raises(ConfigError, match="unknown RLM option"):
        SmartRouter(FakeAdapter(), max_stepz=3)
    with pytest.raises(ConfigError, match="temperature"):
        SmartRouter(FakeAdapter(), temperature=5)
    with pytest.raises(ConfigError, match="profile must be"):
        SmartRouter(FakeAdapter(default="x")).run("q", SMALL, profile="fast")  # type: ignore[arg-type]
