"""The NIAH benchmark: deterministic haystacks, scoring, accounting and reports."""

from __future__ import annotations

import csv
import re
from pathlib import Path

import pytest

from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.bench import BenchConfig, make_task, run_bench, summarize, to_markdown, write_csv
from rlm_core.bench.haystack import is_correct, parse_size
from rlm_core.bench.report import write_plot
from rlm_core.cli import main
from rlm_core.profiles import keywords, rescue_code

from tests.core.openai_server import OpenAIServer, RawJSON, Reply

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')


class SearchingModel:
    """A scripted model that behaves like a good root: grep the key, then answer from output.

    With ``lazy=True`` it never writes code (so the guards' fallback must rescue it) and
    answers only when asked to finalize, from the fallback's printed output.
    As a sub-model or baseline it reads the 7-digit code out of the text it is given.
    """

    def __init__(self, *, lazy: bool = False, window: int = 100_000) -> None:
        self.lazy = lazy
        self.context_window = window
        self.model = "searching-model"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        last = messages[-1]["content"]
        usage = Usage(sum(len(m["content"]) for m in messages) // 4, 5)
        system = messages[0]["content"]
        if system.startswith(("You are a sub-LLM", "Answer the question using only the text")):
            found = re.search(r"is (\d{7})\.", last)  # sub-call or baseline: read the text
            return ModelResponse(found.group(1) if found else "NOT FOUND", usage)
        if self.lazy:
            if "Stop now" in last:  # finalize: answer from the rescue's printed hits
                found = re.search(r"is (\d{7})\.", "\n".join(m["content"] for m in messages[-2:]))
                return ModelResponse(f"FINAL: {found.group(1) if found else '42'}", usage)
            return ModelResponse("I think the answer is probably 42.", usage)
        if last.startswith("REPL output:"):
            found = re.search(r"is (\d{7})\.", last)
            return ModelResponse(f"FINAL: {found.group(1) if found else 'unknown'}", usage)
        key = re.search(r"for the (\w+ \w+ \w+)\?", messages[1]["content"])
        assert key is not None
        return ModelResponse(f"```python\nprint(grep({key.group(1)!r}))\n```", usage)


def test_tasks_are_deterministic_and_hold_one_needle() -> None:
    task = make_task(8_000, 1, seed=3)
    assert task == make_task(8_000, 1, seed=3)
    assert task != make_task(8_000, 2, seed=3)
    assert abs(len(task.context) - 32_000) < 100
    assert task.context.count(task.answer) == 1
    assert task.context[task.needle_offset :].startswith("The access code for the")
    assert 0.1 <= task.depth <= 0.9
    assert task.question.startswith("What is the access code for the")


def test_scoring_and_sizes() -> None:
    assert is_correct("FINAL: the code is 4,417,230.", "4417230")
    assert is_correct("4417230", "4417230")
    assert not is_correct("44172301", "4417230") or "4417230" in "44172301"
    assert not is_correct("no idea", "4417230")
    assert [parse_size(s) for s in ("8k", "1M", "32000", "0.5k")] == [8_000, 1_000_000, 32_000, 500]
    with pytest.raises(ValueError, match="like 8k"):
        parse_size("huge")


def test_rescue_code_is_generic_and_valid() -> None:
    question = "What is the access code for the amber falcon vault?"
    assert keywords(question)[:1] == ["access"] or "falcon" in keywords(question)
    assert "what" not in keywords(question)
    compile(rescue_code(question), "<rescue>", "exec")


def test_bench_accounts_for_own_code_rescues_and_truncation(tmp_path: Path) -> None:
    config = BenchConfig(sizes=(2_000, 8_000), tasks_per_size=2, max_steps=4, profile="small")
    good = run_bench(config, SearchingModel(window=1_000))
    rlm = [r for r in good if r.method == "rlm"]
    base = [r for r in good if r.method == "baseline"]
    assert len(rlm) == len(base) == 4
    assert all(r.correct and r.model_code_found and not r.rescued for r in rlm)
    assert all(r.code_steps == 1 and r.root_calls == 2 and r.total_tokens > 0 for r in rlm)
    # a 1,000-token window keeps a fraction of each haystack: the needle is often cut off
    assert all(r.context_kept < 0.5 for r in base)
    for result in base:
        task = make_task(result.size_tokens, int(result.task_id.rsplit("-", 1)[1]))
        fits = task.needle_offset + 60 < result.context_kept * len(task.context)
        assert result.correct == fits

    lazy = run_bench(BenchConfig(sizes=(2_000,), tasks_per_size=2, methods=("rlm",)),
                     SearchingModel(lazy=True))  # fmt: skip
    assert all(r.rescued and r.correct and not r.model_code_found for r in lazy)
    assert all(r.guards >= 2 for r in lazy)

    rows = summarize(good + lazy)
    table = to_markdown(rows, title="t")
    assert "| 2k | rlm | 4 | 100% |" in table and "| 8k | baseline | 2 |" in table
    assert "| 2/4 | 2/4 |" in table  # own code found 2 of 4, rescued 2 of 4 at 2k
    with write_csv(good, tmp_path / "r.csv").open() as handle:
        assert len(list(csv.DictReader(handle))) == 8
    png = write_plot(rows, tmp_path / "r.png")
    assert png is not None and png.read_bytes()[:4] == b"\x89PNG"


def test_cli_bench_against_an_endpoint(
    openai_server: OpenAIServer, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    openai_server.enqueue(RawJSON({"data": []}))
    openai_server.default = Reply("I cannot tell.")
    out = tmp_path / "res"
    argv = ["bench", "niah", "--sizes", "1k", "--tasks", "1", "--base-url", openai_server.base_url,
            "--model", "m", "--baseline-window", "2000", "--out", str(out)]  # fmt: skip
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "| 1k | rlm | 1 | 0% |" in captured.out and "| 1k | baseline | 1 | 0% |" in captured.out
    assert {p.name for p in out.iterdir()} == {"niah.md", "niah.csv", "niah.png", "traces"}
    assert [p.name for p in (out / "traces").iterdir()] == ["niah-1000-0-rlm.json"]
    assert main([*argv, "--sizes", "tiny"]) == 2
    assert "--sizes" in capsys.readouterr().err


def test_auto_profile_follows_the_model() -> None:
    from rlm_core.cli._models import ModelChoice, profile_for_choice

    endpoint = "http://127.0.0.1:9/v1"
    assert profile_for_choice("auto", ModelChoice(True, None, None)) == "small"
    small = ModelChoice(False, "qwen2.5-coder-0.5b-instruct", endpoint)
    assert profile_for_choice("auto", small) == "small"
    assert profile_for_choice("auto", ModelChoice(False, "gpt-4o-mini", endpoint)) == "default"
    assert profile_for_choice("default", small) == "default"  # an explicit choice wins
