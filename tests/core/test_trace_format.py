"""A damaged trace file fails on load with ``TraceFormatError`` naming the bad field."""

from __future__ import annotations

import json
from typing import Any

import pytest

from rlm_core import Trace, TraceFormatError, TraceStep, Usage

GOOD_STEP: dict[str, Any] = {
    "step_id": 1,
    "kind": "root_call",
    "depth": 0,
    "parent_id": None,
    "response": "FINAL: 4",
    "usage": {"prompt_tokens": 10, "completion_tokens": 2, "total_tokens": 12},
    "cache_hit": False,
    "started_at": 1.5,
    "elapsed_s": 0,
    "metadata": {},
}


def _trace_json(step: dict[str, Any], **top: Any) -> str:
    return json.dumps({"query": "q", "answer": "4", "steps": [step], **top})


def test_a_good_step_loads_with_its_usage() -> None:
    trace = Trace.from_json(_trace_json({**GOOD_STEP, "unknown_newer_field": 1}))
    [step] = trace.steps
    assert step.usage == Usage(10, 2) and trace.usage.total_tokens == 12
    assert step.elapsed_s == 0.0 and isinstance(step.elapsed_s, float)
    assert TraceStep.from_dict({"step_id": 2, "kind": "subcall"}).usage is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"usage": "lots"}, "steps[0].usage must be an object with prompt_tokens"),
        ({"usage": {"prompt_tokens": -5}}, "steps[0].usage.prompt_tokens must be a whole number"),
        ({"usage": {"completion_tokens": "9"}}, "steps[0].usage.completion_tokens must be a"),
        ({"step_id": "a"}, "steps[0].step_id must be an integer, got 'a'"),
        ({"step_id": True}, "steps[0].step_id must be an integer, got true"),
        ({"kind": 3}, "steps[0].kind must be text, got 3"),
        ({"depth": 1.5}, "steps[0].depth must be an integer"),
        ({"parent_id": "x"}, "steps[0].parent_id must be an integer or null"),
        ({"response": ["a"]}, "steps[0].response must be text or null"),
        ({"elapsed_s": "slow"}, "steps[0].elapsed_s must be a number, got 'slow'"),
        ({"cache_hit": "no"}, "steps[0].cache_hit must be true or false"),
        ({"metadata": []}, "steps[0].metadata must be an object"),
    ],
)
def test_a_bad_step_field_is_named(change: dict[str, Any], message: str) -> None:
    with pytest.raises(TraceFormatError) as caught:
        Trace.from_json(_trace_json({**GOOD_STEP, **change}))
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"steps": [{}]}', "steps[0] has no 'step_id' or 'kind'"),
        ('{"steps": [{"step_id": 1}]}', "steps[0] has no 'kind'"),
        ('{"steps": [3]}', "steps[0] must be a JSON object, got 3"),
        ('{"steps": [], "answer": 5}', "'answer' must be text or null, got 5"),
        ('{"steps": [], "metadata": "x"}', "'metadata' must be an object or null"),
        ('{"steps": "x"}', "not a trace: expected a JSON object with a 'steps' list"),
        ("not json", "not a trace: invalid JSON"),
    ],
)
def test_a_bad_trace_is_one_error_type(text: str, message: str) -> None:
    with pytest.raises(TraceFormatError) as caught:
        Trace.from_json(text)
    assert message in str(caught.value)
    assert isinstance(caught.value, ValueError)  # what callers caught before keeps working
