"""Budgets the model can see: wall clock, failed steps in a row, cost, and a status line."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest

from rlm_core import (
    RLM,
    ConfigError,
    ConsecutiveErrorsExceeded,
    MaxCostExceeded,
    MaxTimeExceeded,
    Policy,
)
from rlm_core.adapters import FakeAdapter
from rlm_core.adapters.base import Message, ModelResponse
from rlm_core.usage import Usage

from .helpers import code

BACKENDS = ["isolated", "python", "monty"]


class SlowAdapter(FakeAdapter):
    """A scripted adapter whose every reply takes ``delay`` seconds."""

    def __init__(self, script: list[str], delay: float, **options: Any) -> None:
        super().__init__(script=script, **options)
        self.delay = delay

    def complete(self, messages: list[Message], **options: Any) -> ModelResponse:
        time.sleep(self.delay)
        return super().complete(messages, **options)


class PricedAdapter(FakeAdapter):
    """A scripted adapter reporting 1000 prompt and 100 completion tokens per call."""

    def complete(self, messages: list[Message], **options: Any) -> ModelResponse:
        reply = super().complete(messages, **options)
        return ModelResponse(text=reply.text, usage=Usage(1000, 100))


def make(adapter: FakeAdapter, backend: str, **options: Any) -> RLM:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend=backend, **options)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_seconds_finalizes_gracefully(backend: str) -> None:
    steps = [code(f"x{i} = {i}") for i in range(10)]
    adapter = SlowAdapter(steps, delay=0.15)
    adapter.add_rule("Stop now", "FINAL: best so far")
    events: list[Any] = []
    rlm = make(adapter, backend, policy=Policy(max_seconds=0.25), event_listener=events.append)
    answer, trace = rlm.run("q", "text")
    assert answer == "best so far"
    finalize = [e for e in events if e.type == "finalize"]
    assert len(finalize) == 1 and "max_seconds=0.25" in finalize[0].data["reason"]
    assert len(trace.of_kind("repl_exec")) < 10


def test_max_seconds_raises_with_on_limit_raise() -> None:
    adapter = SlowAdapter([code("a = 1"), code("b = 2"), code("c = 3")], delay=0.15)
    rlm = make(adapter, "python", policy=Policy(max_seconds=0.2, on_limit="raise"))
    with pytest.raises(MaxTimeExceeded) as caught:
        rlm.run("q", "text")
    assert caught.value.trace is not None and caught.value.trace.of_kind("repl_exec")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_consecutive_errors_finalizes_and_success_resets_the_count(backend: str) -> None:
    script = [code("1/0"), code("ok = 1"), code("1/0"), code("undefined_name"), "FINAL: never"]
    adapter = FakeAdapter(script=script)
    adapter.add_rule("Stop now", "FINAL: gave up")
    events: list[Any] = []
    policy = Policy(max_consecutive_errors=2)
    answer, trace = make(adapter, backend, policy=policy, event_listener=events.append).run(
        "q", "text"
    )
    assert answer == "gave up"
    assert len(trace.of_kind("repl_exec")) == 4
    (finalize,) = [e for e in events if e.type == "finalize"]
    assert "2 code steps in a row failed" in finalize.data["reason"]
    policy = Policy(max_consecutive_errors=1, on_limit="raise")
    with pytest.raises(ConsecutiveErrorsExceeded):
        make(FakeAdapter(script=[code("1/0")]), backend, policy=policy).run("q", "text")


@pytest.mark.parametrize("backend", BACKENDS)
def test_the_same_failing_code_again_counts_as_another_failed_step(backend: str) -> None:
    # The repeat is not run again, but a model sending it is stuck: it counts toward the limit.
    policy = Policy(max_steps=40, max_consecutive_errors=2, on_limit="raise")
    rlm = make(FakeAdapter(default=code("1/0")), backend, policy=policy)
    with pytest.raises(ConsecutiveErrorsExceeded, match="2 code steps in a row failed") as caught:
        rlm.run("q", "text")
    trace = caught.value.trace
    assert trace is not None
    assert len(trace.of_kind("repl_exec")) == 1 and len(trace.of_kind("root_call")) == 2
    adapter = FakeAdapter(default=code("1/0"))
    adapter.add_rule("Stop now", "FINAL: gave up")
    answer, trace = make(adapter, backend, policy=Policy(max_consecutive_errors=3)).run("q", "t")
    assert answer == "gave up"
    assert "3 code steps in a row failed" in trace.metadata["finalize"]["reason"]


def test_prices_give_a_cost_per_step_and_for_the_run() -> None:
    adapter = PricedAdapter(script=[code("x = llm_query('hi')"), "FINAL: done"])
    adapter.add_rule("You are a sub-LLM", "sub")
    rlm = make(adapter, "python", prices={"fake": (0.5, 2.0)})
    _, trace = rlm.run("q", "text")
    per_call = (1000 * 0.5 + 100 * 2.0) / 1000  # 0.7
    costs = [step.metadata["cost_usd"] for step in trace.steps if "cost_usd" in step.metadata]
    assert costs == pytest.approx([per_call] * 3)  # two root calls and one sub-call
    assert trace.metadata["cost_usd"] == pytest.approx(3 * per_call)


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_cost_usd_finalizes_when_the_money_is_spent(backend: str) -> None:
    adapter = PricedAdapter(script=[code(f"x{i} = {i}") for i in range(6)])
    adapter.add_rule("Stop now", "FINAL: cheap answer")
    policy = Policy(max_cost_usd=1.5)
    rlm = make(adapter, backend, policy=policy, prices={"fake": (0.5, 2.0)})
    answer, trace = rlm.run("q", "text")
    assert answer == "cheap answer"
    # The third call takes the cost past $1.50; the code of that reply still runs.
    assert len(trace.of_kind("repl_exec")) == 3
    with pytest.raises(MaxCostExceeded, match="max_cost_usd"):
        make(
            PricedAdapter(script=[code("a = 1")] * 5),
            backend,
            policy=Policy(max_cost_usd=1.0, on_limit="raise"),
            prices={"fake": (0.5, 2.0)},
        ).run("q", "text")


def test_max_cost_usd_needs_a_price_for_each_model() -> None:
    with pytest.raises(ConfigError, match=r"needs a price for every model.*'fake'"):
        RLM(FakeAdapter(), policy=Policy(max_cost_usd=1.0))
    with pytest.raises(ConfigError, match=r"prices\['fake'\] must be"):
        RLM(FakeAdapter(), prices={"fake": 0.5})
    with pytest.raises(ConfigError, match="max_seconds must be None or a number > 0"):
        Policy(max_seconds=0)
    with pytest.raises(ConfigError, match="max_consecutive_errors must be None or an int >= 1"):
        Policy(max_consecutive_errors=0)


def test_each_root_step_shows_one_status_line() -> None:
    adapter = PricedAdapter(script=[code("a = 1"), code("b = 2"), "FINAL: x"])
    policy = Policy(max_steps=5, max_total_tokens=100_000, max_cost_usd=10.0, max_seconds=600)
    make(adapter, "python", policy=policy, prices={"fake": (0.5, 2.0)}).run("q", "text")
    status = [call[-1]["content"].rsplit("\n", 1)[-1] for call in adapter.calls]
    assert status[0].startswith("Status: step 1 of 5; 100,000 tokens left; $10.0000 left;")
    assert status[1].startswith("Status: step 2 of 5; 98,900 tokens left; $9.3000 left;")
    assert status[2].startswith("Status: step 3 of 5; 97,800 tokens left; $8.6000 left;")
    assert all(line.count("\n") == 0 and line.endswith("s left.") for line in status)
    # The status is shown with each step, never kept in the history.
    assert "Status:" not in adapter.calls[2][2]["content"]
