"""Local batches: bounded parallel runs, failures recorded, traces beside the results,
and resuming skips what is done (a torn last line is dropped)."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from rlm_core import Trace
from rlm_core.batch import JobOptions, ModelSpec, read_results, run_batch
from rlm_core.batch.progress import PlainProgress

from .conftest import EXPECTED, FIRST_SENTENCE, read_lines

PYTHON = JobOptions(backend="python")
pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')


def test_runs_every_job_and_writes_traces(
    jobs_file: Path, tmp_path: Path, scripted: ModelSpec
) -> None:
    out = tmp_path / "results.jsonl"
    summary = run_batch(jobs_file, out, model=scripted, concurrency=3, defaults=PYTHON)
    assert (summary.total, summary.ran, summary.failed, summary.skipped) == (4, 4, 0, 0)
    records = {record["id"]: record for record in read_lines(out)}
    assert set(records) == {"q1", "q2", "q3", "q4"}
    for job_id, answer in EXPECTED.items():
        assert records[job_id]["answer"] == answer
    first_doc = (jobs_file.parent / "docs" / "a.txt").resolve()
    assert records["q3"]["answer"] == f"=== {first_doc}"[: f"=== {first_doc}".find(".")]
    for record in records.values():
        assert record["status"] == "ok" and record["error"] is None
        assert record["steps"] == 3 and record["usage"]["total_tokens"] > 0
        assert record["trace"] == f"results.traces/{record['id']}.json"
        trace = Trace.from_json((tmp_path / record["trace"]).read_text(encoding="utf-8"))
        assert trace.answer == record["answer"]
        assert trace.metadata["batch"]["job_id"] == record["id"]


def test_a_failed_job_is_recorded_and_the_others_go_on(tmp_path: Path) -> None:
    jobs = [
        {"id": "fine", "query": "q", "context": "Good text. Yes."},
        {"id": "limit", "query": "q", "context": "Text. x", "max_steps": 1, "on_limit": "raise"},
        {"id": "also-fine", "query": "q", "context": "More text. Yes."},
    ]
    out = tmp_path / "results.jsonl"
    summary = run_batch(jobs, out, model=ModelSpec.fake(FIRST_SENTENCE), defaults=PYTHON)
    assert (summary.ran, summary.failed, summary.succeeded) == (3, 1, 2)
    records = read_results(out)
    failed = records["limit"]
    assert failed["status"] == "error" and failed["answer"] is None
    assert failed["error"]["type"] == "MaxStepsExceeded"
    trace = json.loads((tmp_path / failed["trace"]).read_text(encoding="utf-8"))
    assert [step["kind"] for step in trace["steps"]] == ["root_call", "repl_exec"]
    assert records["fine"]["answer"] == "Good text"
    assert records["also-fine"]["answer"] == "More text"


def test_resume_skips_done_jobs_and_drops_a_torn_line(tmp_path: Path) -> None:
    out = tmp_path / "results.jsonl"
    jobs = [
        {"id": f"j{n}", "query": "q", "context": f"Doc {n}. tail", "max_steps": 1 if n == 2 else 8}
        for n in range(4)
    ]
    jobs[2]["on_limit"] = "raise"
    model = ModelSpec.fake(FIRST_SENTENCE)
    first = run_batch(jobs[:3], out, model=model, defaults=PYTHON)
    assert (first.ran, first.failed) == (3, 1)
    with out.open("ab") as handle:  # a writer killed mid-line
        handle.write(b'{"id": "j3", "status": "ok", "ans')
    assert read_results(out).keys() == {"j0", "j1", "j2"}

    second = run_batch(jobs, out, model=model, defaults=PYTHON)
    assert (second.total, second.skipped, second.ran) == (4, 3, 1)
    lines = read_lines(out)  # the torn bytes are gone, every line parses
    assert sorted(line["id"] for line in lines) == ["j0", "j1", "j2", "j3"]
    assert lines[-1]["id"] == "j3" and lines[-1]["answer"] == "Doc 3"

    jobs[2]["max_steps"] = 8  # fixed: retry the failed one only
    third = run_batch(jobs, out, model=model, defaults=PYTHON, retry_failed=True)
    assert (third.skipped, third.ran, third.failed) == (3, 1, 0)
    assert read_results(out)["j2"]["answer"] == "Doc 2"


def test_plain_progress_reports_each_job_with_an_eta(tmp_path: Path) -> None:
    stream = io.StringIO()
    jobs = [{"id": f"p{n}", "query": "q", "context": f"P {n}. x"} for n in range(3)]
    run_batch(
        jobs,
        tmp_path / "r.jsonl",
        model=ModelSpec.fake(FIRST_SENTENCE),
        defaults=PYTHON,
        concurrency=1,
        progress=PlainProgress(stream),
    )
    lines = stream.getvalue().splitlines()
    assert lines[0] == "batch: 3 job(s) to run"
    assert [line.split()[0] for line in lines[1:4]] == ["[1/3]", "[2/3]", "[3/3]"]
    assert "eta " in lines[1] and lines[3].endswith("eta done")
    assert lines[4].startswith("batch: 3 ok, 0 failed in ")


def test_results_file_that_is_not_results(tmp_path: Path) -> None:
    from rlm_core.batch import ResultsFileError

    out = tmp_path / "r.jsonl"
    out.write_text("not json\n", encoding="utf-8")
    jobs = [{"id": "a", "query": "q", "context": "t. x"}]
    with pytest.raises(ResultsFileError, match="line 1 is not a JSON result record"):
        run_batch(jobs, out, model=ModelSpec.fake(FIRST_SENTENCE))
    with pytest.raises(ResultsFileError, match="does not exist"):
        run_batch(jobs, tmp_path / "no" / "r.jsonl", model=ModelSpec.fake(FIRST_SENTENCE))


def test_rich_progress_shows_the_bar_and_failures(tmp_path: Path) -> None:
    from rlm_core.batch.progress import RichProgress

    stream = io.StringIO()
    jobs = [
        {"id": "fine", "query": "q", "context": "Fine. x"},
        {"id": "bad", "query": "q", "context": "Bad. [x]", "max_steps": 1, "on_limit": "raise"},
    ]
    run_batch(
        jobs,
        tmp_path / "r.jsonl",
        model=ModelSpec.fake(FIRST_SENTENCE),
        defaults=PYTHON,
        progress=RichProgress(stream),
    )
    shown = stream.getvalue()
    assert "bad failed: MaxStepsExceeded" in shown
    assert "2/2" in shown and "1 failed" in shown and "eta" in shown
