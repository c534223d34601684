"""pyrlm-runtime-shaped adapter code keeps working: hooks, reasoning models, Azure v1, parts.

Every test talks to the real loopback OpenAI-compatible server and checks the
JSON body that was actually sent.
"""

from __future__ import annotations

import functools
from typing import Any

import pytest

from rlm_core.adapters.azure import AzureOpenAIAdapter
from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.adapters.http import GenericChatAdapter
from rlm_core.adapters.openai_compat import OpenAICompatAdapter
from rlm_core.errors import AdapterError, ConfigError

try:
    from .openai_server import OpenAIServer, RawJSON
except ImportError:
    from openai_server import OpenAIServer, RawJSON  # type: ignore[no-redef]

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


def completion(content: Any, **extra: Any) -> dict[str, Any]:
    return {"choices": [{"message": {"role": "assistant", "content": content}}], **extra}


# --------------------------------------------------------------------------- payload_builder


def pyrlm_builder(
    messages: list[Message], max_tokens: int, temperature: float, model: str | None
) -> dict[str, Any]:
    """A builder written for pyrlm-runtime: (messages, max_tokens, temperature, model)."""
    return {"model": model, "messages": messages, "max_tokens": max_tokens, "temp": temperature}


def test_pyrlm_argument_order_gets_the_right_values(openai_server: OpenAIServer) -> None:
    with GenericChatAdapter(
        openai_server.base_url, model="custom-model", payload_builder=pyrlm_builder
    ) as adapter:
        adapter.complete(MESSAGES, max_tokens=33, temperature=0.25)
    assert openai_server.requests[0].body == {
        "model": "custom-model",
        "messages": MESSAGES,
        "max_tokens": 33,
        "temp": 0.25,
    }


@pytest.mark.parametrize(
    "builder",
    [
        lambda messages, model, max_tokens, temperature: {
            "m": model,
            "n": max_tokens,
            "t": temperature,
            "k": len(messages),
        },
        lambda messages, max_tokens, **rest: {
            "m": rest["model"],
            "n": max_tokens,
            "t": rest["temperature"],
            "k": len(messages),
        },
        lambda *, temperature, messages, model, max_tokens, seed=7: {
            "m": model,
            "n": max_tokens,
            "t": temperature,
            "k": len(messages),
        },
    ],
    ids=["our-order", "var-keyword", "keyword-only"],
)
def test_builders_are_called_by_name(openai_server: OpenAIServer, builder: Any) -> None:
    with GenericChatAdapter(openai_server.base_url, model="mm", payload_builder=builder) as adapter:
        adapter.complete(MESSAGES, max_tokens=21, temperature=0.5)
    assert openai_server.requests[0].body == {"m": "mm", "n": 21, "t": 0.5, "k": 2}


def test_builder_may_take_a_subset_of_the_arguments(openai_server: OpenAIServer) -> None:
    def build(messages: list[Message]) -> dict[str, Any]:
        return {"prompt": messages[-1]["content"]}

    with GenericChatAdapter(openai_server.base_url, model="m", payload_builder=build) as adapter:
        adapter.complete(MESSAGES, max_tokens=5)
    assert openai_server.requests[0].body == {"prompt": "Say hi."}


def test_partial_and_callable_objects_are_accepted(openai_server: OpenAIServer) -> None:
    class Builder:
        def __call__(self, messages: list[Message], max_tokens: int, model: str) -> dict[str, Any]:
            return {"model": model, "limit": max_tokens}

    def tagged(messages: list[Message], model: str, *, tag: str) -> dict[str, Any]:
        return {"model": model, "tag": tag}

    for builder in (Builder(), functools.partial(tagged, tag="x")):
        with GenericChatAdapter(
            openai_server.base_url, model="m", payload_builder=builder
        ) as adapter:
            adapter.complete(MESSAGES, max_tokens=4)
    assert [request.body for request in openai_server.requests] == [
        {"model": "m", "limit": 4},
        {"model": "m", "tag": "x"},
    ]


@pytest.mark.parametrize(
    ("builder", "fragment"),
    [
        (lambda msgs, model, max_tokens, temperature: {}, "'msgs'"),
        (lambda messages, mdl, limit, temp: {}, "'mdl'"),
        (lambda model, max_tokens: {}, "'messages'"),
        (lambda messages, /, model: {}, "positional-only"),
        (len, "cannot read the parameters|'obj'"),
    ],
    ids=["renamed-messages", "unknown-names", "no-messages", "positional-only", "builtin"],
)
def test_incompatible_builder_is_refused_at_construction(builder: Any, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment) as info:
        GenericChatAdapter("http://127.0.0.1:1/v1", model="m", payload_builder=builder)
    assert "max_tokens, temperature and model" in str(info.value)


# --------------------------------------------------------------------------- response_parser


def test_pyrlm_parser_tuple_with_usage(openai_server: OpenAIServer) -> None:
    def parse(data: dict[str, Any]) -> tuple[str, Usage | None]:
        return data["out"], Usage(prompt_tokens=data["in_tok"], completion_tokens=data["out_tok"])

    openai_server.enqueue(RawJSON({"out": "pong", "in_tok": 9, "out_tok": 2}))
    with GenericChatAdapter(openai_server.url, model="m", response_parser=parse) as adapter:
        assert adapter.complete(MESSAGES) == ModelResponse("pong", Usage(9, 2), model="m")


def test_parser_tuple_with_usage_mapping_or_none(openai_server: OpenAIServer) -> None:
    openai_server.enqueue(
        RawJSON({"out": "a", "usage": {"prompt_tokens": 3, "completion_tokens": 1}}),
        RawJSON({"out": "b" * 40}),
    )
    with GenericChatAdapter(
        openai_server.url, model="m", response_parser=lambda data: (data["out"], data.get("usage"))
    ) as adapter:
        first = adapter.complete(MESSAGES)
        second = adapter.complete(MESSAGES)
    assert first.usage == Usage(3, 1)
    # No usage reported: estimated from the characters sent and received (~4 per token).
    sent = sum(len(message["content"]) for message in MESSAGES)
    assert second == ModelResponse("b" * 40, Usage(sent // 4, 10), model="m")


@pytest.mark.parametrize(
    ("reply", "fragment"),
    [
        ((1, 2), r"tuple \(int, int\)"),
        (("text", "lots"), r"\(text, str\)"),
        (42, "returned int"),
        (("a", None, None), "tuple"),
    ],
)
def test_unusable_parser_results_are_adapter_errors(
    openai_server: OpenAIServer, reply: Any, fragment: str
) -> None:
    with (
        GenericChatAdapter(
            openai_server.url, model="m", response_parser=lambda data: reply
        ) as adapter,
        pytest.raises(AdapterError, match=fragment),
    ):
        adapter.complete(MESSAGES)


@pytest.mark.parametrize(
    "parser",
    [lambda: "x", lambda data, extra: "x", lambda *, data: "x"],
    ids=["no-argument", "two-required", "keyword-only"],
)
def test_parser_that_cannot_take_one_argument_is_refused(parser: Any) -> None:
    with pytest.raises(ConfigError, match="response_parser cannot be called with a single"):
        GenericChatAdapter("http://127.0.0.1:1/v1", model="m", response_parser=parser)


# --------------------------------------------------------------------------- reasoning models


@pytest.mark.parametrize(
    "model", ["gpt-5.1", "gpt-5-mini", "o1", "o3-mini", "o4-mini", "openai/o3"]
)
def test_reasoning_models_get_max_completion_tokens_and_no_temperature(
    openai_server: OpenAIServer, model: str
) -> None:
    with OpenAICompatAdapter(model, base_url=openai_server.base_url) as adapter:
        adapter.complete(MESSAGES, max_tokens=64, temperature=0.0)
    assert openai_server.requests[0].body == {
        "model": model,
        "messages": MESSAGES,
        "max_completion_tokens": 64,
    }


@pytest.mark.parametrize("model", ["gpt-4o", "llama3", "ollama-model", "qwen2.5-coder", "o"])
def test_other_models_keep_max_tokens_and_temperature(
    openai_server: OpenAIServer, model: str
) -> None:
    with OpenAICompatAdapter(model, base_url=openai_server.base_url) as adapter:
        adapter.complete(MESSAGES, max_tokens=64, temperature=0.2)
    body = openai_server.requests[0].body
    assert body["max_tokens"] == 64
    assert body["temperature"] == 0.2
    assert "max_completion_tokens" not in body


def test_explicit_options_override_the_model_family(openai_server: OpenAIServer) -> None:
    with OpenAICompatAdapter(
        "gpt-5.1",
        base_url=openai_server.base_url,
        token_limit_param="max_tokens",
        send_temperature=True,
    ) as adapter:
        adapter.complete(MESSAGES, max_tokens=8, temperature=0.7)
    with OpenAICompatAdapter(
        "my-local-reasoner",
        base_url=openai_server.base_url,
        token_limit_param="max_completion_tokens",
        send_temperature=False,
    ) as adapter:
        adapter.complete(MESSAGES, max_tokens=9, temperature=0.7)
    first, second = (request.body for request in openai_server.requests)
    assert (first["max_tokens"], first["temperature"]) == (8, 0.7)
    assert second["max_completion_tokens"] == 9
    assert "temperature" not in second and "max_tokens" not in second


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"token_limit_param": "max_output_tokens"}, "token_limit_param"),
        ({"send_temperature": "no"}, "send_temperature"),
        ({"token_limit_param": "max_tokens", "payload_builder": pyrlm_builder}, "payload_builder"),
    ],
)
def test_bad_body_options_are_refused(options: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment):
        OpenAICompatAdapter("gpt-5.1", base_url="http://127.0.0.1:1/v1", **options)


def test_azure_reasoning_deployment_body(openai_server: OpenAIServer) -> None:
    adapter = AzureOpenAIAdapter("gpt-5.1", api_key="k", endpoint=openai_server.url)
    with adapter:
        adapter.complete(MESSAGES, max_tokens=100, temperature=0.0)
    [request] = openai_server.requests
    assert request.route == "/openai/deployments/gpt-5.1/chat/completions"
    assert request.body == {"messages": MESSAGES, "max_completion_tokens": 100}


def test_azure_classic_deployment_keeps_temperature(openai_server: OpenAIServer) -> None:
    # A custom deployment name hides the family; the model name still tells it.
    adapter = AzureOpenAIAdapter(
        "gpt-4o", api_key="k", endpoint=openai_server.url, deployment="prod-chat"
    )
    with adapter:
        adapter.complete(MESSAGES, max_tokens=50, temperature=0.3)
    with AzureOpenAIAdapter(
        "chat", api_key="k", endpoint=openai_server.url, deployment="o3-mini-prod"
    ) as reasoning:
        reasoning.complete(MESSAGES, max_tokens=50, temperature=0.3)
    first, second = (request.body for request in openai_server.requests)
    assert first == {"messages": MESSAGES, "max_completion_tokens": 50, "temperature": 0.3}
    assert second == {"messages": MESSAGES, "max_completion_tokens": 50}


def test_azure_token_param_can_be_overridden(openai_server: OpenAIServer) -> None:
    adapter = AzureOpenAIAdapter(
        "gpt-4", api_key="k", endpoint=openai_server.url, token_limit_param="max_tokens"
    )
    with adapter:
        adapter.complete(MESSAGES, max_tokens=12)
    assert openai_server.requests[0].body["max_tokens"] == 12


@pytest.mark.parametrize("suffix", ["/openai/v1", "/openai/v1/"])
def test_azure_v1_endpoint_is_not_doubled(
    openai_server: OpenAIServer, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    monkeypatch.setenv("AZURE_OPENAI_API_KEY", "azure-key")
    monkeypatch.setenv("OPENAI_ENDPOINT", openai_server.url + suffix)
    with AzureOpenAIAdapter("gpt-5.1") as adapter:
        assert adapter.complete(MESSAGES, max_tokens=10).text
    [request] = openai_server.requests
    assert request.path == "/openai/v1/chat/completions"
    assert request.headers["api-key"] == "azure-key"
    assert request.body == {"model": "gpt-5.1", "messages": MESSAGES, "max_completion_tokens": 10}


def test_azure_v1_endpoint_sends_the_deployment_as_model(openai_server: OpenAIServer) -> None:
    adapter = AzureOpenAIAdapter(
        "gpt-4o", api_key="k", endpoint=openai_server.url + "/openai/v1", deployment="prod"
    )
    with adapter:
        adapter.complete(MESSAGES)
    assert openai_server.requests[0].body["model"] == "prod"
    assert adapter.model == "gpt-4o"


def test_azure_endpoint_ending_in_openai_is_not_doubled(openai_server: OpenAIServer) -> None:
    adapter = AzureOpenAIAdapter("gpt-4o", api_key="k", endpoint=openai_server.url + "/openai/")
    with adapter:
        adapter.complete(MESSAGES)
    assert openai_server.requests[0].route == "/openai/deployments/gpt-4o/chat/completions"


# --------------------------------------------------------------------------- content parts


def test_content_parts_are_joined(openai_server: OpenAIServer) -> None:
    parts = [
        {"type": "thinking", "thinking": "hidden chain"},
        {"type": "reasoning", "text": "also hidden"},
        {"type": "text", "text": "x = 1"},
        {"type": "image_url", "image_url": {"url": "http://127.0.0.1/x.png"}},
        {"type": "output_text", "text": "print(x)"},
        "FINAL_VAR: x",
    ]
    openai_server.enqueue(
        RawJSON(completion(parts, usage={"prompt_tokens": 5, "completion_tokens": 4}))
    )
    with OpenAICompatAdapter("claude-3", base_url=openai_server.base_url) as adapter:
        response = adapter.complete(MESSAGES)
    assert response.text == "x = 1\nprint(x)\nFINAL_VAR: x"
    assert response.usage == Usage(5, 4)


def test_empty_parts_list_is_empty_text_and_objects_are_refused(
    openai_server: OpenAIServer,
) -> None:
    openai_server.enqueue(RawJSON(completion([])), RawJSON(completion({"text": "hi"})))
    with OpenAICompatAdapter("m", base_url=openai_server.base_url) as adapter:
        assert adapter.complete(MESSAGES).text == ""
        with pytest.raises(AdapterError, match="list of parts"):
            adapter.complete(MESSAGES)
