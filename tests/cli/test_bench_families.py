"""The multi-hop and aggregation bench families: deterministic generators, exact scoring
with partial credit, and the harness and CLI running them with scripted models."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.bench import BenchConfig, run_bench, summarize, to_markdown
from rlm_core.bench.families import make_aggregation, make_family_tasks, make_multihop
from rlm_core.bench.report import plot_panels
from rlm_core.cli import main

from tests.core.openai_server import OpenAIServer, RawJSON, Reply

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')

_RECORD = re.compile(r"shipped (\d+) units of (\w+)\.")


_DEPOT_RECORD = re.compile(r"the (\w+) depot shipped \d+ units of (\w+)\.")


def _recount(context: str, question: str) -> int:
    category = re.search(r"of (\w+) were", question)
    assert category is not None
    units = [int(n) for n, c in _RECORD.findall(context) if c == category.group(1)]
    return len(units) if question.startswith("How many shipments") else sum(units)


def _depot_counts(context: str, question: str) -> dict[str, int]:
    category = re.search(r"shipped (\w+) most often", question)
    assert category is not None
    counts: dict[str, int] = {}
    for depot, name in _DEPOT_RECORD.findall(context):
        if name == category.group(1):
            counts[depot] = counts.get(depot, 0) + 1
    return counts


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


def test_three_hop_tasks_chain_project_team_lead_room() -> None:
    task = make_multihop(8_000, 1, seed=1)  # odd tasks of the default mix have three hops
    assert task.kind == "3-hop" and task == make_multihop(8_000, 1, seed=1, hops=3)
    team, lead = task.bridges
    project = re.search(r"project (\S+) work\?", task.question)
    assert project is not None and task.question.startswith("In which room does the lead")
    chain = [
        f"Project {project.group(1)} is maintained by the {team} team.",
        f"The {team} team is led by {lead}.",
        f"{lead} works in room {task.answer}.",
    ]
    assert all(task.context.count(fact) == 1 for fact in chain)
    assert task.context.count(" works in room ") == 6 and " once booked room " in task.context
    assert not any(name in task.question for name in (team, lead, task.answer))
    assert make_multihop(8_000, 0, seed=1).kind == "2-hop"
    assert {t.kind for t in make_family_tasks("multihop", [2_000], 2)} == {"2-hop", "3-hop"}
    assert {t.kind for t in make_family_tasks("multihop", [2_000], 2, variant="3")} == {"3-hop"}
    with pytest.raises(ValueError, match="hops"):
        make_family_tasks("multihop", [2_000], 1, variant="4")


def test_aggregation_answers_need_every_record() -> None:
    for index in (0, 1):  # a count, then a sum
        task = make_aggregation(8_000, index, seed=2)
        assert task == make_aggregation(8_000, index, seed=2)
        assert int(task.answer) == _recount(task.context, task.question) > 0
        assert len(_RECORD.findall(task.context)) > 200


def test_most_frequent_value_questions_have_one_exact_winner() -> None:
    task = make_aggregation(8_000, 2, seed=2)  # every third task of the default mix
    assert task.kind == "mode" and task.question.startswith("Which depot shipped")
    counts = _depot_counts(task.context, task.question)
    top = max(counts.values())
    assert counts[task.answer] == top and list(counts.values()).count(top) == 1
    runner_up = max((d for d in counts if d != task.answer), key=counts.__getitem__)
    assert task.grade(f"The {task.answer} depot.") == (True, 1.0)
    assert task.grade(f"{runner_up.title()}") == (False, counts[runner_up] / top)
    assert task.grade("no depot at all") == (False, 0.0)
    kinds = [t.kind for t in make_family_tasks("aggregation", [2_000], 3)]
    assert kinds == ["count", "sum", "mode"]
    only = make_family_tasks("aggregation", [2_000], 2, variant="mode")
    assert all(t.kind == "mode" for t in only)


def test_scoring_is_exact_with_partial_credit() -> None:
    hop = make_multihop(2_000, 0)
    assert hop.grade(f"It is {hop.answer}.") == (True, 1.0)
    assert hop.grade(f"The {hop.partial} team.") == (False, 0.5)
    assert hop.grade("no idea") == (False, 0.0)
    three = make_multihop(2_000, 0, hops=3)
    team, lead = three.bridges
    assert three.grade(f"{team}") == (False, pytest.approx(1 / 3))
    assert three.grade(f"{lead} of {team}") == (False, pytest.approx(2 / 3))
    assert three.grade(f"Room {three.answer}") == (True, 1.0)
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
    rows = summarize(results)
    table = to_markdown(rows)
    assert "| partial credit |" in table and "| 2k | rlm | 2 | 100% | 100% |" in table
    panels = dict(plot_panels(rows))  # exact and partial credit plotted apart
    assert panels["exact accuracy (%)"]["baseline"] == [(2_000, 0.0)]
    baseline_credit = panels["partial credit (%)"]["baseline"]
    assert baseline_credit == [(2_000, pytest.approx(100 * sum(r.score for r in base) / 2))]
    assert baseline_credit[0][1] > 0


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


def test_cli_selects_one_question_type(
    openai_server: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.default = Reply("I cannot tell.")
    common = ["--sizes", "1k", "--tasks", "1", "--base-url", openai_server.base_url, "--model",
              "m", "--baseline-window", "2000", "--methods", "rlm"]  # fmt: skip
    for family, flag, value, opening in (
        ("multihop", "--hops", "3", "In which room does the lead"),
        ("aggregation", "--question", "mode", "Which depot shipped"),
    ):
        out = tmp_path / family
        assert main(["bench", family, flag, value, *common, "--out", str(out)]) == 0
        trace = (out / "traces" / f"{family}-1000-0-rlm.json").read_text()
        assert opening in trace
    with pytest.raises(SystemExit) as usage:
        main(["bench", "multihop", "--hops", "5", *common])
    assert usage.value.code == 2
    assert "--hops" in capsys.readouterr().err
