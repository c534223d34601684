"""``RLM(adapter)`` with no profile picks the one that fits the model (a declared small
context window, a declared ``rlm_profile`` or a small size in the model's name), says so
in the trace, and explicit options win."""

from __future__ import annotations

import warnings

import pytest

from rlm_core import RLM, ConfigError, RLMOptions
from rlm_core.adapters import FakeAdapter, OpenAICompatAdapter
from rlm_core.profiles import (
    SMALL_EXAMPLE,
    SMALL_MODEL_WINDOW,
    parameters_in_name,
    profile_for_model,
)

from tests.core.helpers import code

TEXT = "Harbour notes. " * 40 + "The lighthouse keeper is named Ottoline Vance. " + "x " * 40


class WindowAdapter(FakeAdapter):
    """A scripted adapter that declares its model's context window."""

    def __init__(self, window: int, script: list[str] = ()) -> None:  # type: ignore[assignment]
        super().__init__(script=script)
        self.context_window = window


class DeclaringAdapter(FakeAdapter):
    rlm_profile = "small"


def _rlm(adapter: FakeAdapter, **options: object) -> RLM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend="python", **options)  # type: ignore[arg-type]


def test_a_small_declared_window_gets_the_small_profile_and_the_trace_says_why() -> None:
    adapter = WindowAdapter(8192, [code("answer = 'Ottoline Vance'")])
    rlm = _rlm(adapter)
    assert rlm.settings.prompts.example == SMALL_EXAMPLE
    assert rlm.settings.guards.invalid_response_limit == 2
    answer, trace = rlm.run("Who keeps the lighthouse?", TEXT)
    assert answer == "Ottoline Vance"  # ended by the small profile's auto_finalize_var
    settings = trace.metadata["settings"]
    assert settings["profile"] == "small"
    assert settings["profile_chosen"]["automatically"] is True
    assert "8192 tokens" in settings["profile_chosen"]["why"]
    assert adapter.calls[0][0]["content"].endswith(SMALL_EXAMPLE)


def test_a_large_or_unknown_window_keeps_the_default() -> None:
    for adapter in (WindowAdapter(128_000), FakeAdapter()):
        settings = _rlm(adapter).settings
        assert settings.chosen["profile"] == "default"
        assert "profile_chosen" not in settings.chosen
    assert profile_for_model(WindowAdapter(SMALL_MODEL_WINDOW)) is not None
    assert profile_for_model(WindowAdapter(SMALL_MODEL_WINDOW + 1)) is None


def test_an_adapter_may_declare_its_profile() -> None:
    settings = _rlm(DeclaringAdapter()).settings
    assert settings.chosen["profile"] == "small"
    assert settings.chosen["profile_chosen"]["why"] == "the adapter declares rlm_profile='small'"
    bad = DeclaringAdapter()
    bad.rlm_profile = "tiny"
    with pytest.raises(ConfigError, match="unknown profile 'tiny'"):
        _rlm(bad)


def test_explicit_profile_and_options_win_over_the_automatic_choice() -> None:
    small_window = WindowAdapter(4096)
    settings = _rlm(small_window, profile="default").settings
    assert settings.chosen["profile"] == "default" and "profile_chosen" not in settings.chosen
    assert settings.guards.invalid_response_limit is None
    settings = _rlm(small_window, invalid_response_limit=5, auto_finalize_var=None).settings
    assert settings.chosen["profile"] == "small"
    assert settings.guards.invalid_response_limit == 5
    assert settings.auto_finalize_var is None
    shared = RLMOptions(profile="default")
    assert RLM(small_window, options=shared).settings.chosen["profile"] == "default"


@pytest.mark.parametrize(
    ("name", "size"),
    [
        ("qwen2.5-coder-0.5b-instruct-q4_k_m.gguf", 0.5),
        ("llama3.2:1b", 1.0),
        ("gemma-2-2b-it", 2.0),
        ("Qwen2.5-7B-Instruct", 7.0),
        ("mixtral-8x7b", None),
        ("gpt-4o-mini", None),
        ("qwen2.5", None),
    ],
)
def test_the_size_a_model_name_states(name: str, size: float | None) -> None:
    assert parameters_in_name(name) == size


def test_a_small_model_behind_an_openai_compatible_server_gets_the_small_profile() -> None:
    """A local server declares no window; the model's name says it is small."""
    adapter = OpenAICompatAdapter("qwen2.5-coder-0.5b-instruct", base_url="http://127.0.0.1:9/v1")
    rlm = _rlm(adapter)  # type: ignore[arg-type]
    assert rlm.settings.chosen["profile"] == "small"
    chosen = rlm.settings.chosen["profile_chosen"]
    assert "0.5B parameters" in chosen["why"]
    big = _rlm(OpenAICompatAdapter("Qwen2.5-72B-Instruct", base_url="http://127.0.0.1:9/v1"))  # type: ignore[arg-type]
    assert "profile_chosen" not in big.settings.chosen
