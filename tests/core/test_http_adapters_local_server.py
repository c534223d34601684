"""HTTP adapters pick a timeout and timeout retries that suit where the server runs."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from rlm_core import RLM
from rlm_core.adapters import LOCAL_SERVER_TIMEOUT_S
from rlm_core.adapters.base import Message
from rlm_core.adapters.openai_compat import OpenAICompatAdapter
from rlm_core.errors import AdapterError

try:
    from .openai_server import Delay, OpenAIServer, Reply
except ImportError:
    from openai_server import Delay, OpenAIServer, Reply  # type: ignore[no-redef]

MESSAGES: list[Message] = [{"role": "user", "content": "Say hi."}]


def test_a_server_on_this_machine_gets_a_long_timeout_and_no_timeout_retries() -> None:
    adapter = OpenAICompatAdapter("m", base_url="http://localhost:8080/v1")
    assert adapter.timeout == LOCAL_SERVER_TIMEOUT_S
    assert adapter.retry_policy.retry_timeouts is False
    assert adapter.max_retries == 3  # statuses such as 503 "loading model" are still retried
    assert adapter.defaults_chosen["timeout"] == LOCAL_SERVER_TIMEOUT_S
    assert adapter.defaults_chosen["retry_timeouts"] is False
    assert "this machine" in adapter.defaults_chosen["why"]


def test_a_remote_server_keeps_the_usual_defaults() -> None:
    adapter = OpenAICompatAdapter("m", base_url="https://api.example.com/v1", api_key="k")
    assert adapter.timeout == 60.0
    assert adapter.retry_policy.retry_timeouts is True
    assert adapter.defaults_chosen == {}


def test_options_you_set_are_kept_and_only_the_rest_is_chosen() -> None:
    adapter = OpenAICompatAdapter("m", base_url="http://127.0.0.1:8080/v1", timeout=5.0)
    assert adapter.timeout == 5.0
    assert set(adapter.defaults_chosen) == {"retry_timeouts", "why"}
    both = OpenAICompatAdapter(
        "m", base_url="http://[::1]:8080/v1", timeout=5.0, retry_timeouts=True
    )
    assert both.retry_policy.retry_timeouts is True
    assert both.defaults_chosen == {}


def test_a_connect_timeout_is_still_retried() -> None:
    """The server never saw a request whose connection timed out: sending it again queues
    nothing behind it."""
    adapter = OpenAICompatAdapter("m", base_url="http://localhost:8080/v1")
    assert adapter._retries(httpx.ConnectTimeout("connect"))
    assert not adapter._retries(httpx.ReadTimeout("read"))


def test_a_slow_local_server_gets_the_call_once(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(1.0, then=Reply("late")), Reply("never asked"))
    adapter = OpenAICompatAdapter(
        "m", base_url=openai_server.base_url, timeout=0.2, backoff_base=0.01
    )
    with adapter, pytest.raises(AdapterError, match="not retried: retry_timeouts=False"):
        adapter.complete(MESSAGES)
    assert len(openai_server.requests) == 1
    assert openai_server.remaining == 1


def test_a_slow_local_server_gets_the_async_call_once(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(1.0, then=Reply("late")), Reply("never asked"))
    adapter = OpenAICompatAdapter(
        "m", base_url=openai_server.base_url, timeout=0.2, backoff_base=0.01
    )

    async def call() -> None:
        async with adapter:
            await adapter.acomplete(MESSAGES)

    with pytest.raises(AdapterError, match="1 attempt, not retried"):
        asyncio.run(call())
    assert len(openai_server.requests) == 1


def test_the_trace_says_which_adapter_options_were_chosen(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply("FINAL: 42"))
    with OpenAICompatAdapter("m", base_url=openai_server.base_url) as adapter:
        answer, trace = RLM(adapter).run("What is it?", "ctx")
    assert answer == "42"
    chosen = trace.metadata["settings"]["adapter_defaults"]
    assert chosen["root"]["timeout"] == LOCAL_SERVER_TIMEOUT_S
    assert chosen["root"]["retry_timeouts"] is False
    assert "sub" not in chosen  # the same adapter serves the sub-calls
