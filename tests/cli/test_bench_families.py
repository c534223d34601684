"""The multi-hop and aggregation bench families: deterministic generators, exact scoring
with partial credit, and the harness and CLI running them with scripted models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.bench import BenchConfig, run_bench, summarize, to_markdown
from rlm_core.bench.families import make_aggregation, make_family_tasks, make_multihop
from rlm_core.cli import main

from tests.core.openai_server import OpenAIServer, RawJSON, Reply

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')

_RECORD = re.compile(r"shipped (\d+) units of (\w+)\.")


def _recount(context: str, question: str) -> int:
    category = re.search(r"of (\w+) were", question)
    assert category is not None
    units = [int(n) for n, c in _RECORD.findall(context) if c == category.group(1)]
    return len(units) if question.startswith("How many shipments") else sum(units)


def test_multihop_tasks_need_both_facts_and_carry_distractors() -> None:
    task = make_multihop(8_000, 0, seed=1)
    assert task == make_multihop(8_000, 0, seed=1) and task != make_multihop(8_000, 1, seed=1)
    assert abs(len(task.context) - 32_000) < 200
    project = re.search(r"project (\S+)\?", task.question)
    assert project is not None
    hop1 = f"Project {project.group(1)} is maintained by the {task.partial} team."
    hop2 = f"The {task.partial} team is led by {task.answer}."
    assert task.context.count(hop1) == 1 and task.context.count(hop2) == 1
    assert task.answer not in task.question and task.partial not in task.question
    assert task.context.count(" team is led by ") == 6  # five distractor leads
    assert abs(task.context.index(hop1) - task.context.index(hop2)) > 200  # far apart


def test_aggregation_answers_need_every_record() -> None:
    for index in (0, 1):  # a count, then a sum
        task = make_aggregation(8_000, index, seed=2)
        assert task == make_aggregation(8_000, index, seed=2)
        assert int(task.answer) == _recount(task.context, task.question) > 0
        assert len(_RECORD.findall(task.context)) > 200


def test_scoring_is_exact_with_partial_credit() -> None:
    hop = make_multihop(2_000, 0)
    assert hop.grade(f"It is {hop.answer}.") == (True, 1.0)
    assert hop.grade(f"The {hop.partial} team.") == (False, 0.5)
    assert hop.grade("no idea") == (False, 0.0)
    count = make_aggregation(2_000, 0)
    expected = int(count.answer)
    assert count.grade(f"FINAL: {expected}") == (True, 1.0)
    correct, credit = count.grade(f"{expected + 1} shipments")
    assert not correct and credit == pytest.approx(1 - 1 / expected)
    assert count.grade("none") == (False, 0.0)
    with pytest.raises(ValueError, match="unknown task family 'oolong'"):
        make_family_tasks("oolong", [2_000], 1)


class CountingModel:
    """A scripted root that computes the aggregate with code over ``P`` (its own code
    solves it); as the baseline it guesses 1."""

    context_window = 1_000
    model = "counting-model"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        usage = Usage(10, 5)
        if messages[0]["content"].startswith("Answer the question using only the text"):
            return ModelResponse("1", usage)
        question = messages[1]["content"]
        category = re.search(r"of (\w+) were", question)
        assert category is not None
        total = "len(units)" if "How many shipments" in question else "sum(units)"
        code = (
            "import re\n"
            f"units = [int(n) for n, c in re.findall(r'shipped (\\d+) units of (\\w+)\\.', P) "
            f"if c == {category.group(1)!r}]\n"
            f"answer = str({total})\n"
            "print(answer)"
        )
        return ModelResponse(f"```python\n{code}\n```", usage)


def test_the_harness_runs_a_family_and_reports_partial_credit() -> None:
    config = BenchConfig(sizes=(2_000,), tasks_per_size=2, family="aggregation", max_steps=3)
    results = run_bench(config, CountingModel())
    rlm = [r for r in results if r.method == "rlm"]
    assert [r.task_id for r in rlm] == ["aggregation-2000-0", "aggregation-2000-1"]
    assert all(r.correct and r.score == 1.0 and r.model_code_found for r in rlm)
    assert all(not r.rescued for r in rlm)
    base = [r for r in results if r.method == "baseline"]
    assert not any(r.correct for r in base) and all(0 <= r.score < 1 for r in base)
    table = to_markdown(summarize(results))
    assert "| partial credit |" in table and "| 2k | rlm | 2 | 100% | 100% |" in table


def test_cli_runs_the_new_families(
    openai_server: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(RawJSON({"data": []}))
    openai_server.default = Reply("I cannot tell.")
    out = tmp_path / "res"
    argv = ["bench", "multihop", "--sizes", "1k", "--tasks", "1", "--base-url",
            openai_server.base_url, "--model", "m", "--baseline-window", "2000",
            "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    assert "| 1k | baseline | 1 | 0% | 0% |" in capsys.readouterr().out
    assert {"multihop.md", "multihop.csv", "traces"} <= {p.name for p in out.iterdir()}
    assert [p.name for p in (out / "traces").iterdir()] == ["multihop-1000-0-rlm.json"]
