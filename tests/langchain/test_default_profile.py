"""A LangChain chat model that declares a small context window (its model profile's
``max_input_tokens``, or an ``n_ctx`` / ``num_ctx`` field) gets the ``small`` profile by
default through ``RLMRunnable``; an explicit profile wins."""

from __future__ import annotations

from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage

from rlm_langchain import RLMRunnable
from rlm_langchain.adapter import ChatModelAdapter

from .conftest import CONTEXT, fenced, scripted


class LocalChatModel(FakeMessagesListChatModel):
    """A scripted chat model with a llama.cpp-style ``n_ctx`` field."""

    n_ctx: int = 4096


def test_a_declared_small_window_picks_the_small_profile() -> None:
    llm = scripted(fenced("answer = '4711'"))
    llm.profile = {"max_input_tokens": 8192}
    runnable = RLMRunnable(llm=llm, context=CONTEXT, repl_backend="python", return_trace=True)
    result = runnable.invoke("code?")
    assert result.answer == "4711"  # the small profile's auto_finalize_var="answer"
    settings = result.trace.metadata["settings"]
    assert settings["profile"] == "small"
    assert "8192 tokens" in settings["profile_chosen"]["why"]


def test_n_ctx_is_read_and_an_explicit_profile_wins() -> None:
    llm = LocalChatModel(responses=[AIMessage(content="FINAL: 4711")])
    assert ChatModelAdapter(llm).context_window == 4096
    assert ChatModelAdapter(llm, context_window=100_000).context_window == 100_000
    runnable = RLMRunnable(
        llm=llm, context=CONTEXT, profile="default", repl_backend="python", return_trace=True
    )
    result = runnable.invoke("code?")
    assert result.answer == "4711"  # the default profile accepts a FINAL before any code
    assert result.trace.metadata["settings"]["profile"] == "default"
    assert "profile_chosen" not in result.trace.metadata["settings"]


def test_a_model_without_a_declared_window_keeps_the_default() -> None:
    runnable = RLMRunnable(
        llm=scripted("FINAL: 4711"), context=CONTEXT, repl_backend="python", return_trace=True
    )
    result = runnable.invoke("code?")
    assert result.answer == "4711"
    assert result.trace.metadata["settings"]["profile"] == "default"
