"""The adapter protocol as users write it: public names, the OpenAI usage shape, pyrlm-runtime
field names."""

from __future__ import annotations

import dataclasses
import pickle
import warnings
from typing import Any

import pytest

import rlm_core
from rlm_core import (
    RLM,
    AdapterError,
    Message,
    ModelAdapter,
    ModelResponse,
    RetrieverProtocol,
    Trace,
    TraceStep,
    Usage,
)
from rlm_core.adapters import base as adapters_base
from rlm_core.retrieval import base as retrieval_base

from .helpers import code


def test_protocols_are_exported_from_the_package() -> None:
    assert ModelAdapter is adapters_base.ModelAdapter
    assert ModelResponse is adapters_base.ModelResponse
    assert Usage is adapters_base.Usage
    assert Message is adapters_base.Message
    assert RetrieverProtocol is retrieval_base.RetrieverProtocol
    assert rlm_core.adapters.Message is Message
    assert rlm_core.estimate_tokens("x" * 30) > 0
    assert rlm_core.count_tokens("hello world") > 0


# -- Usage -----------------------------------------------------------------------------------
def test_usage_accepts_the_openai_shape_and_derives_the_total() -> None:
    openai_shape = Usage(prompt_tokens=12, completion_tokens=3, total_tokens=15)
    assert openai_shape == Usage(12, 3)
    assert openai_shape.total_tokens == Usage(12, 3).total_tokens == 15
    assert Usage(12, 3, 15) == openai_shape
    assert Usage().total_tokens == 0
    assert (Usage(1, 2) + Usage(3, 4)).to_dict() == {
        "prompt_tokens": 4,
        "completion_tokens": 6,
        "total_tokens": 10,
    }


def test_usage_refuses_an_inconsistent_total() -> None:
    with pytest.raises(ValueError, match=r"total_tokens=20\) is not .* 12 \+ 3 = 15"):
        Usage(prompt_tokens=12, completion_tokens=3, total_tokens=20)


@pytest.mark.parametrize(
    ("values", "error", "message"),
    [
        ({"prompt_tokens": None}, TypeError, "prompt_tokens must be an int, got NoneType"),
        ({"completion_tokens": "3"}, TypeError, "completion_tokens must be an int, got str"),
        ({"prompt_tokens": True}, TypeError, "prompt_tokens must be an int, got bool"),
        ({"completion_tokens": -1}, ValueError, "completion_tokens must be >= 0"),
        ({"total_tokens": 1.0}, TypeError, "total_tokens must be an int, got float"),
    ],
)
def test_usage_refuses_counts_that_are_not_counts(
    values: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Usage(**values)


def test_usage_stays_a_plain_value() -> None:
    usage = Usage(5, 7)
    assert dataclasses.replace(usage, prompt_tokens=1) == Usage(1, 7)
    assert pickle.loads(pickle.dumps(usage)) == usage
    assert hash(usage) == hash(Usage(5, 7, 12))
    with pytest.raises(dataclasses.FrozenInstanceError):
        usage.total_tokens = 3  # type: ignore[misc]
    step = TraceStep(step_id=1, kind="root_call", usage=usage)
    assert TraceStep.from_dict(step.to_dict()).usage == usage


# -- ModelResponse ---------------------------------------------------------------------------
def test_model_response_accepts_model_id_and_meta() -> None:
    response = ModelResponse(
        text="hi", usage=Usage(1, 2, 3), model_id="my-model", meta={"finish_reason": "stop"}
    )
    assert response.model == response.model_id == "my-model"
    assert response.meta == {"finish_reason": "stop"}
    assert response == ModelResponse("hi", Usage(1, 2), model="my-model")  # meta not compared
    assert ModelResponse("hi").meta == {}
    assert ModelResponse("hi").usage == Usage()
    assert ModelResponse("hi", model="m", model_id="m").model == "m"


def test_model_response_keeps_its_own_copy_of_meta() -> None:
    meta = {"id": "a"}
    response = ModelResponse("hi", meta=meta)
    meta["id"] = "b"
    assert response.meta == {"id": "a"}


def test_model_response_refuses_two_different_models() -> None:
    with pytest.raises(ValueError, match=r"model='a' and model_id='b'.*pass one"):
        ModelResponse("hi", model="a", model_id="b")


def test_a_bad_usage_from_a_custom_adapter_fails_clearly() -> None:
    response = ModelResponse("hi", usage={"prompt_tokens": 1})  # type: ignore[arg-type]
    with pytest.raises(AdapterError, match=r"usage is dict; pass usage=rlm_core\.Usage"):
        adapters_base.check_response(response, object())


# -- a ported adapter, end to end ------------------------------------------------------------
class PortedAdapter:
    """A custom adapter as pyrlm-runtime users write it."""

    model_id = "ported-model"

    def __init__(self, replies: list[str]) -> None:
        self.replies = replies

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        prompt = sum(len(m["content"]) for m in messages) // 4
        completion = 7
        return ModelResponse(
            text=self.replies.pop(0),
            usage=Usage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            ),
            model_id=self.model_id,
            meta={"latency_ms": 1},
        )


def test_a_ported_custom_adapter_runs() -> None:
    adapter = PortedAdapter([code("print(peek(5))"), "FINAL: done"])
    assert isinstance(adapter, ModelAdapter)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        rlm = RLM(adapter, repl_backend="python")
        answer, trace = rlm.run("what?", "hello world")
    assert answer == "done"
    assert isinstance(trace, Trace)
    root_calls = trace.of_kind("root_call")
    assert len(root_calls) == 2
    assert all(step.model == "ported-model" for step in root_calls)
    assert trace.usage.completion_tokens == 14
    assert trace.usage.total_tokens == trace.usage.prompt_tokens + 14
