"""HTTP adapters against a real local OpenAI-compatible server (no transport mocks)."""

from __future__ import annotations

import asyncio
import gc
import logging
import warnings
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import pytest

from rlm_core.adapters.azure import AzureOpenAIAdapter
from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.adapters.http import GenericChatAdapter, RetryPolicy, parse_retry_after
from rlm_core.adapters.openai_compat import DEFAULT_OPENAI_BASE_URL, OpenAICompatAdapter
from rlm_core.errors import AdapterError, ConfigError

try:
    from .openai_server import (
        Delay,
        Disconnect,
        Malformed,
        OpenAIServer,
        RawJSON,
        Reply,
        Status,
    )
except ImportError:
    from openai_server import (  # type: ignore[no-redef]
        Delay,
        Disconnect,
        Malformed,
        OpenAIServer,
        RawJSON,
        Reply,
        Status,
    )

KEY = "sk-test-SECRET-0123456789"
MESSAGES: list[Message] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Say hi."},
]
ENV_VARS = (
    "LLM_API_KEY",
    "OPENAI_API_KEY",
    "LLM_BASE_URL",
    "AZURE_OPENAI_API_KEY",
    "OPENAI_ENDPOINT",
    "AZURE_ACCOUNT_NAME",
    "AZURE_OPENAI_API_VERSION",
)


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)


def make(server: OpenAIServer, **options: Any) -> OpenAICompatAdapter:
    options.setdefault("api_key", KEY)
    options.setdefault("backoff_base", 0.01)
    options.setdefault("timeout", 5.0)
    return OpenAICompatAdapter("gpt-test", base_url=server.base_url, **options)


# --------------------------------------------------------------------------- basics


def test_sync_completion_maps_text_usage_and_model(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply("Hi there.", prompt_tokens=12, completion_tokens=3))
    with make(openai_server) as adapter:
        response = adapter.complete(MESSAGES)
    assert response == ModelResponse("Hi there.", Usage(12, 3), model="test-model")


async def test_async_completion(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply("async hi", prompt_tokens=5, completion_tokens=2))
    async with make(openai_server) as adapter:
        response = await adapter.acomplete(MESSAGES, max_tokens=20)
    assert response.text == "async hi"
    assert response.usage == Usage(5, 2)


def test_missing_usage_is_zero_and_null_content_is_empty(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Reply(text=None, usage=False))
    with make(openai_server) as adapter:
        response = adapter.complete(MESSAGES)
    assert response.text == ""
    assert response.usage == Usage(0, 0)


def test_request_body_and_bearer_header(openai_server: OpenAIServer) -> None:
    with make(openai_server) as adapter:
        adapter.complete(MESSAGES, max_tokens=77, temperature=0.3)
    [request] = openai_server.requests
    assert request.method == "POST"
    assert request.path == "/v1/chat/completions"
    assert request.headers["authorization"] == f"Bearer {KEY}"
    assert request.headers["content-type"] == "application/json"
    assert request.body == {
        "model": "gpt-test",
        "messages": MESSAGES,
        "max_tokens": 77,
        "temperature": 0.3,
    }


def test_extra_body_and_headers_are_sent(openai_server: OpenAIServer) -> None:
    options: dict[str, Any] = {"extra_body": {"seed": 7}, "headers": {"X-Trace": "abc"}}
    with make(openai_server, **options) as adapter:
        adapter.complete(MESSAGES)
    [request] = openai_server.requests
    assert request.body["seed"] == 7
    assert request.headers["x-trace"] == "abc"


def test_no_key_sends_no_authorization_header(openai_server: OpenAIServer) -> None:
    with OpenAICompatAdapter("llama3", base_url=openai_server.base_url) as adapter:
        assert adapter.complete(MESSAGES).text
    assert "authorization" not in openai_server.requests[0].headers


# --------------------------------------------------------------------------- env resolution


def test_env_key_order_and_base_url(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LLM_BASE_URL", openai_server.base_url)
    monkeypatch.setenv("LLM_API_KEY", "primary-key")
    monkeypatch.setenv("OPENAI_API_KEY", "fallback-key")
    with OpenAICompatAdapter("m") as adapter:
        adapter.complete(MESSAGES)
    monkeypatch.delenv("LLM_API_KEY")
    with OpenAICompatAdapter("m") as adapter:
        adapter.complete(MESSAGES)
    with OpenAICompatAdapter("m", api_key="explicit-key") as adapter:
        adapter.complete(MESSAGES)
    sent = [request.headers["authorization"] for request in openai_server.requests]
    assert sent == ["Bearer primary-key", "Bearer fallback-key", "Bearer explicit-key"]


def test_default_base_url_is_openai() -> None:
    adapter = OpenAICompatAdapter("gpt-test")
    assert adapter.base_url == DEFAULT_OPENAI_BASE_URL
    assert adapter.url == "https://api.openai.com/v1/chat/completions"


# --------------------------------------------------------------------------- Azure


def test_azure_url_shape_and_api_key_header(openai_server: OpenAIServer) -> None:
    adapter = AzureOpenAIAdapter(
        "gpt-4o", api_key=KEY, endpoint=openai_server.url, deployment="my-deploy"
    )
    with adapter:
        assert adapter.complete(MESSAGES).text
    [request] = openai_server.requests
    assert request.route == "/openai/deployments/my-deploy/chat/completions"
    assert request.query == {"api-version": ["2024-10-21"]}
    assert request.headers["api-key"] == KEY
    assert "authorization" not in request.headers


def test_azure_reads_env(openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-env-key")
    monkeypatch.setenv("OPENAI_ENDPOINT", openai_server.url)
    monkeypatch.setenv("AZURE_OPENAI_API_VERSION", "2025-01-01-preview")
    with AzureOpenAIAdapter("gpt-5.1") as adapter:
        adapter.complete(MESSAGES)
    [request] = openai_server.requests
    assert request.route == "/openai/deployments/gpt-5.1/chat/completions"
    assert request.query == {"api-version": ["2025-01-01-preview"]}
    assert request.headers["api-key"] == "azure-env-key"


def test_azure_endpoint_from_account_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "k")
    monkeypatch.setenv("AZURE_ACCOUNT_NAME", "acme")
    adapter = AzureOpenAIAdapter("gpt-4o")
    assert adapter.url == (
        "https://acme.openai.azure.com/openai/deployments/gpt-4o/chat/completions"
        "?api-version=2024-10-21"
    )


def test_azure_missing_settings_name_the_env_vars() -> None:
    with pytest.raises(ConfigError) as info:
        AzureOpenAIAdapter("gpt-4o")
    message = str(info.value)
    for name in ("AZURE_OPENAI_API_KEY", "OPENAI_ENDPOINT", "AZURE_ACCOUNT_NAME"):
        assert name in message


# --------------------------------------------------------------------------- retries


def test_429_with_retry_after_is_honoured(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Status(429, retry_after="0.2"), Reply("after the wait"))
    with make(openai_server) as adapter:
        response = adapter.complete(MESSAGES)
    assert response.text == "after the wait"
    first, second = openai_server.requests
    assert second.received_at - first.received_at >= 0.15


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried(openai_server: OpenAIServer, status: int) -> None:
    openai_server.enqueue(Status(status), Status(status), Reply("recovered"))
    with make(openai_server) as adapter:
        assert adapter.complete(MESSAGES).text == "recovered"
    assert len(openai_server.requests) == 3


def test_retries_exhausted_raise_with_status(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(*[Status(503, body="overloaded, come back later")] * 3)
    with make(openai_server, max_retries=2) as adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    error = info.value
    assert error.status_code == 503
    assert len(openai_server.requests) == 3
    message = str(error)
    assert "503" in message
    assert f"{openai_server.base_url}/chat/completions" in message
    assert "overloaded" in message
    assert "3 attempts" in message


async def test_async_retries_then_succeeds(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Status(502), Status(429, retry_after="0"), Reply("async ok"))
    async with make(openai_server) as adapter:
        assert (await adapter.acomplete(MESSAGES)).text == "async ok"
    assert len(openai_server.requests) == 3


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_fail_fast_and_hide_the_key(openai_server: OpenAIServer, status: int) -> None:
    echo = {"error": {"message": f"Incorrect API key provided: {KEY}"}}
    openai_server.enqueue(Status(status, body=echo))
    with make(openai_server) as adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    assert info.value.status_code == status
    assert len(openai_server.requests) == 1
    message = str(info.value)
    assert "API key" in message
    assert "Incorrect API key provided" in message
    assert KEY not in message


def test_other_4xx_fail_fast_with_body_excerpt(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Status(400, body={"error": {"message": "max_tokens is too large"}}))
    with make(openai_server) as adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    assert info.value.status_code == 400
    assert "max_tokens is too large" in str(info.value)
    assert len(openai_server.requests) == 1


def test_dropped_connection_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Disconnect(), Reply("second try"))
    with make(openai_server) as adapter:
        assert adapter.complete(MESSAGES).text == "second try"
    assert len(openai_server.requests) == 2


def test_dropped_connections_exhaust_retries(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(*[Disconnect()] * 3)
    with make(openai_server, max_retries=2) as adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    assert info.value.status_code is None
    assert "3 attempts" in str(info.value)
    assert len(openai_server.requests) == 3


def test_slow_reply_times_out(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0))
    adapter = make(openai_server, timeout=0.2, max_retries=0)
    with adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    assert "timeout" in str(info.value)


def test_timeout_is_retried(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Delay(2.0), Reply("fast this time"))
    with make(openai_server, timeout=0.2, max_retries=1, retry_timeouts=True) as adapter:
        assert adapter.complete(MESSAGES).text == "fast this time"


def test_unreachable_server_is_reported() -> None:
    with OpenAIServer() as server:
        base_url = server.base_url
    adapter = OpenAICompatAdapter("m", base_url=base_url, max_retries=1, backoff_base=0.01)
    with adapter, pytest.raises(AdapterError, match="could not connect"):
        adapter.complete(MESSAGES)


# --------------------------------------------------------------------------- bad replies


def test_malformed_json_is_an_adapter_error(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(Malformed())
    with make(openai_server) as adapter, pytest.raises(AdapterError, match="not valid JSON"):
        adapter.complete(MESSAGES)


def test_unexpected_shape_says_what_was_expected(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(RawJSON({"result": "hi"}), RawJSON({"choices": [{"text": "hi"}]}))
    with make(openai_server) as adapter:
        with pytest.raises(AdapterError, match="'choices' list"):
            adapter.complete(MESSAGES)
        with pytest.raises(AdapterError, match=r"choices\[0\]\.message"):
            adapter.complete(MESSAGES)


# --------------------------------------------------------------------------- hooks


def test_custom_payload_builder_and_response_parser(openai_server: OpenAIServer) -> None:
    def build(
        messages: list[Message], model: str, max_tokens: int, temperature: float
    ) -> dict[str, Any]:
        prompt = "\n".join(message["content"] for message in messages)
        return {"engine": model, "prompt": prompt, "limit": max_tokens}

    def parse(data: Any) -> ModelResponse:
        return ModelResponse(data["output"], Usage(data["in"], data["out"]))

    openai_server.enqueue(RawJSON({"output": "custom!", "in": 4, "out": 2}))
    adapter = GenericChatAdapter(
        openai_server.url,
        "/generate",
        model="custom-model",
        payload_builder=build,
        response_parser=parse,
    )
    with adapter:
        response = adapter.complete(MESSAGES, max_tokens=9)
    assert response == ModelResponse("custom!", Usage(4, 2), model="custom-model")
    [request] = openai_server.requests
    assert request.path == "/generate"
    assert request.body == {
        "engine": "custom-model",
        "prompt": "You are terse.\nSay hi.",
        "limit": 9,
    }


def test_parser_may_return_text_and_its_errors_become_adapter_errors(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(RawJSON({"answer": "plain"}), RawJSON({"nothing": True}))
    adapter = GenericChatAdapter(
        openai_server.url, model="m", response_parser=lambda data: data["answer"]
    )
    with adapter:
        assert adapter.complete(MESSAGES) == ModelResponse("plain", Usage(), model="m")
        with pytest.raises(AdapterError, match="KeyError"):
            adapter.complete(MESSAGES)


# --------------------------------------------------------------------------- connections


def test_sync_calls_reuse_one_connection(openai_server: OpenAIServer) -> None:
    with make(openai_server) as adapter:
        for _ in range(5):
            adapter.complete(MESSAGES)
    assert len(openai_server.requests) == 5
    assert openai_server.connections == 1


async def test_async_calls_reuse_one_connection(openai_server: OpenAIServer) -> None:
    async with make(openai_server) as adapter:
        for _ in range(5):
            await adapter.acomplete(MESSAGES)
    assert openai_server.connections == 1


def test_context_manager_closes_the_client(openai_server: OpenAIServer) -> None:
    with make(openai_server) as adapter:
        adapter.complete(MESSAGES)
        assert openai_server.open_connections == 1
    assert openai_server.wait_until(lambda server: server.open_connections == 0)
    with adapter:  # a closed adapter opens a fresh client on next use
        assert adapter.complete(MESSAGES).text
    assert openai_server.connections == 2


async def test_async_context_manager_closes_the_client(openai_server: OpenAIServer) -> None:
    async with make(openai_server) as adapter:
        await adapter.acomplete(MESSAGES)
        adapter.complete(MESSAGES)
        assert openai_server.open_connections == 2
    assert await asyncio.to_thread(
        openai_server.wait_until, lambda server: server.open_connections == 0
    )


async def test_concurrent_async_calls(openai_server: OpenAIServer) -> None:
    async with make(openai_server) as adapter:
        responses = await asyncio.gather(*(adapter.acomplete(MESSAGES) for _ in range(10)))
    assert [response.text for response in responses] == [Reply().text] * 10
    assert len(openai_server.requests) == 10


def test_async_client_is_not_reused_across_event_loops(openai_server: OpenAIServer) -> None:
    adapter = make(openai_server)

    async def call_and_keep_open() -> str:
        return (await adapter.acomplete(MESSAGES)).text

    async def call_and_close() -> str:
        async with adapter:
            return (await adapter.acomplete(MESSAGES)).text

    assert asyncio.run(call_and_keep_open())  # leaves a client bound to a now-closed loop
    assert asyncio.run(call_and_close())
    assert openai_server.connections == 2
    with warnings.catch_warnings():  # the abandoned client's socket is only freed by the GC
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


# --------------------------------------------------------------------------- secrets & config


def test_repr_and_logs_hide_the_key(
    openai_server: OpenAIServer, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    openai_server.enqueue(Status(500), Reply())
    with make(openai_server) as adapter:
        adapter.complete(MESSAGES)
    assert KEY not in repr(adapter)
    assert "api_key='***'" in repr(adapter)
    assert "retry 1/3" in caplog.text
    assert KEY not in caplog.text


def test_url_credentials_are_not_shown(openai_server: OpenAIServer) -> None:
    base_url = openai_server.base_url.replace("://", "://user:hunter2@")
    openai_server.enqueue(Status(404))
    adapter = OpenAICompatAdapter("m", base_url=base_url, api_key=KEY)
    with adapter, pytest.raises(AdapterError) as info:
        adapter.complete(MESSAGES)
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(adapter)


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"base_url": ""}, "base_url"),
        ({"base_url": "   "}, "base_url"),
        ({"base_url": "localhost:8000"}, "http://"),
        ({"model": ""}, "model"),
        ({"timeout": -1.0}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"max_retries": -1}, "max_retries"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"backoff_base": -0.1}, "backoff_base"),
        ({"response_parser": "nope"}, "response_parser"),
        ({"retry_timeouts": "no"}, "retry_timeouts"),
    ],
)
def test_invalid_options_raise_config_error(options: dict[str, Any], fragment: str) -> None:
    arguments: dict[str, Any] = {"base_url": "http://127.0.0.1:1/v1", "model": "m"} | options
    with pytest.raises(ConfigError, match=fragment):
        GenericChatAdapter(**arguments)


# --------------------------------------------------------------------------- retry policy


def test_retry_after_seconds_and_http_date() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    assert parse_retry_after("0.2") == 0.2
    assert parse_retry_after("120") == 120.0
    later = format_datetime(now + timedelta(seconds=30), usegmt=True)
    earlier = format_datetime(now - timedelta(seconds=30), usegmt=True)
    assert parse_retry_after(later, now=now) == 30
    assert parse_retry_after(earlier, now=now) == 0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_retry_policy_backoff_is_capped() -> None:
    policy = RetryPolicy(max_retries=3, backoff_base=0.5, backoff_max=4.0)
    assert 0.5 <= policy.delay(0) <= 0.55
    assert 1.0 <= policy.delay(1) <= 1.1
    assert policy.delay(10) == 4.0
    assert policy.delay(0, "3600") == 4.0
    assert policy.delay(0, "0.25") == 0.25
    assert policy.allows_retry(2) and not policy.allows_retry(3)
