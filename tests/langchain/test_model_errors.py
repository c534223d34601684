"""A run that the wrapped LangChain model ended raises that model's own error, so LangChain's
error filters (with_retry, with_fallbacks, except clauses) see the class they name."""

from __future__ import annotations

from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeMessagesListChatModel
from langchain_core.messages import AIMessage
from langchain_core.outputs import ChatResult

from rlm_core import AdapterError, Trace
from rlm_langchain import ChatRLM, RLMRunnable

from .conftest import CONTEXT


class FlakyChatModel(FakeMessagesListChatModel):
    """Fails with ``ConnectionError`` for its first ``failures`` calls, then replies."""

    failures: int = 1
    calls: int = 0

    def _generate(self, *args: Any, **kwargs: Any) -> ChatResult:
        self.calls += 1
        if self.calls <= self.failures:
            raise ConnectionError("transient")
        return super()._generate(*args, **kwargs)

    async def _agenerate(self, *args: Any, **kwargs: Any) -> ChatResult:
        return self._generate(*args, **kwargs)


def flaky(failures: int = 1) -> FlakyChatModel:
    return FlakyChatModel(responses=[AIMessage(content="FINAL: 4711")], failures=failures)


def test_chat_rlm_raises_the_models_error_with_the_runs_trace() -> None:
    with pytest.raises(ConnectionError, match="transient") as info:
        ChatRLM(llm=flaky(), context=CONTEXT).invoke("code?")
    error = info.value
    assert not isinstance(error, AdapterError)
    assert isinstance(error.trace, Trace)  # type: ignore[attr-defined]
    assert error.trace.error is not None  # type: ignore[attr-defined]
    assert any("root model" in note for note in error.__notes__)


def test_with_retry_filtering_on_the_models_error_class_retries() -> None:
    chat = ChatRLM(llm=flaky(), context=CONTEXT).with_retry(
        retry_if_exception_type=(ConnectionError,), stop_after_attempt=2
    )
    assert chat.invoke("code?").text == "4711"


def test_with_fallbacks_on_the_models_error_class_falls_back() -> None:
    failing = ChatRLM(llm=flaky(failures=9), context=CONTEXT)
    backup = ChatRLM(llm=flaky(failures=0), context=CONTEXT)
    chat = failing.with_fallbacks([backup], exceptions_to_handle=(ConnectionError,))
    assert chat.invoke("code?").text == "4711"


async def test_async_and_streaming_paths_raise_the_models_error() -> None:
    with pytest.raises(ConnectionError):
        await ChatRLM(llm=flaky(), context=CONTEXT).ainvoke("code?")
    with pytest.raises(ConnectionError):
        [chunk async for chunk in ChatRLM(llm=flaky(), context=CONTEXT).astream("code?")]
    with pytest.raises(ConnectionError):
        list(ChatRLM(llm=flaky(), context=CONTEXT).stream("code?"))


async def test_rlm_runnable_raises_the_models_error_on_every_path() -> None:
    with pytest.raises(ConnectionError) as info:
        RLMRunnable(llm=flaky(), context=CONTEXT).invoke("code?")
    assert isinstance(info.value.trace, Trace)  # type: ignore[attr-defined]
    with pytest.raises(ConnectionError):
        await RLMRunnable(llm=flaky(), context=CONTEXT).ainvoke("code?")
    with pytest.raises(ConnectionError):
        list(RLMRunnable(llm=flaky(), context=CONTEXT).stream("code?"))
    retried = RLMRunnable(llm=flaky(), context=CONTEXT).with_retry(
        retry_if_exception_type=(ConnectionError,), stop_after_attempt=2
    )
    assert retried.invoke("code?") == "4711"
