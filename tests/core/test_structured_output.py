"""Structured answers: output_type gives a validated value, one repair turn, then an error."""

from __future__ import annotations

import asyncio
import json
import warnings
from typing import Any

import pytest
from pydantic import BaseModel, model_validator

from rlm_core import RLM, ConfigError, OutputValidationError
from rlm_core.adapters import FakeAdapter

from .helpers import code

BACKENDS = ["isolated", "python", "monty"]


class Invoice(BaseModel):
    number: str
    total: float


def make(script: list[str], backend: str) -> tuple[RLM, FakeAdapter]:
    adapter = FakeAdapter(script=script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter, repl_backend=backend), adapter


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_valid_dict_from_final_in_code_becomes_the_model(backend: str) -> None:
    rlm, adapter = make([code("FINAL({'number': 'A-7', 'total': 12.5})")], backend)
    answer, trace = rlm.run("the invoice?", "invoice A-7: 12.50", output_type=Invoice)
    assert answer == Invoice(number="A-7", total=12.5)
    assert json.loads(trace.answer or "") == {"number": "A-7", "total": 12.5}
    first = adapter.calls[0][1]["content"]
    assert "JSON matching this schema" in first and '"total"' in first


@pytest.mark.parametrize("backend", BACKENDS)
def test_final_var_and_final_json_text_are_validated(backend: str) -> None:
    rlm, _ = make([code("inv = {'number': 'B', 'total': '3'}"), "FINAL_VAR: inv"], backend)
    assert rlm.run("q", "text", output_type=Invoice)[0] == Invoice(number="B", total=3.0)
    rlm, _ = make(['FINAL: {"number": "C", "total": 1}'], backend)
    assert rlm.run("q", "text", output_type=Invoice)[0] == Invoice(number="C", total=1.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_an_invalid_answer_gets_one_repair_turn(backend: str) -> None:
    script = ['FINAL: {"number": "A-7"}', 'FINAL: {"number": "A-7", "total": 12.5}']
    rlm, adapter = make(script, backend)
    answer, trace = rlm.run("q", "text", output_type=Invoice)
    assert answer == Invoice(number="A-7", total=12.5)
    repair = adapter.calls[1][-1]["content"]
    assert "does not match the required schema" in repair and "total: Field required" in repair
    assert [s.metadata["purpose"] for s in trace.of_kind("root_call")] == ["step", "repair"]


def test_the_repair_may_be_code_that_calls_final() -> None:
    script = ["FINAL: not json at all", code("FINAL({'number': 'Z', 'total': 2})")]
    rlm, _ = make(script, "python")
    assert rlm.run("q", "text", output_type=Invoice)[0] == Invoice(number="Z", total=2.0)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_second_invalid_answer_is_a_clear_error_with_the_trace(backend: str) -> None:
    rlm, _ = make(['FINAL: {"number": 1}', "FINAL: still wrong"], backend)
    with pytest.raises(OutputValidationError, match="does not match Invoice") as caught:
        rlm.run("q", "text", output_type=Invoice)
    trace = caught.value.trace
    assert trace is not None and len(trace.of_kind("root_call")) == 2
    assert "OutputValidationError" in (trace.error or "")


def test_structured_answers_on_the_async_path_and_in_a_session() -> None:
    rlm, _ = make(
        [code("FINAL({'number': 'N', 'total': 4})"), 'FINAL: {"number": "M", "total": 5}'],
        "python",
    )

    async def main() -> Any:
        return (await rlm.arun("q", "text", output_type=Invoice))[0]

    assert asyncio.run(main()) == Invoice(number="N", total=4.0)
    with rlm.session() as session:
        answer, _ = session.run("q", "text", output_type=Invoice)
    assert answer == Invoice(number="M", total=5.0)
    assert json.loads(session.turns[0].answer) == {"number": "M", "total": 5.0}


class Reply(BaseModel):
    """An answer that may also come as plain text."""

    text: str

    @model_validator(mode="before")
    @classmethod
    def _from_text(cls, value: Any) -> Any:
        return {"text": value} if isinstance(value, str) else value


def test_plain_text_goes_to_a_type_that_takes_text() -> None:
    rlm, adapter = make(["FINAL: Legal owns contract A."], "python")
    assert rlm.run("q", "text", output_type=Reply)[0] == Reply(text="Legal owns contract A.")
    assert len(adapter.calls) == 1  # no repair turn
    rlm, _ = make(['FINAL: {"text": "from JSON"}'], "python")
    assert rlm.run("q", "text", output_type=Reply)[0] == Reply(text="from JSON")
    rlm, _ = make(["FINAL: no JSON here", "FINAL: none here either"], "python")
    with pytest.raises(OutputValidationError, match="not JSON: 'none here either'"):
        rlm.run("q", "text", output_type=Invoice)


def test_a_json_schema_output_type() -> None:
    pytest.importorskip("jsonschema")  # an optional dependency (ray's extra brings it here)
    schema = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
    rlm, adapter = make(['FINAL: {"n": "x"}', 'FINAL: {"n": 3}'], "python")
    assert rlm.run("q", "text", output_type=schema)[0] == {"n": 3}
    assert "n: 'x' is not of type 'integer'" in adapter.calls[1][-1]["content"]
    with pytest.raises(ConfigError, match="not a valid JSON schema"):
        rlm.run("q", "text", output_type={"type": "no-such-type"})


def test_a_bad_output_type_is_refused_before_the_run() -> None:
    rlm, adapter = make([], "python")
    with pytest.raises(ConfigError, match="pydantic model class"):
        rlm.run("q", "text", output_type=int)
    assert adapter.calls == []
