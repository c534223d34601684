"""``RLM(adapter)`` with no profile picks the one that fits the model (a declared small
context window or a declared ``rlm_profile``), says so in the trace, and explicit options win."""

from __future__ import annotations

import warnings

import pytest

from rlm_core import RLM, ConfigError, RLMOptions
from rlm_core.adapters import FakeAdapter
from rlm_core.profiles import SMALL_EXAMPLE, SMALL_MODEL_WINDOW, profile_for_model

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
