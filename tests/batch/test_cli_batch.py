"""``rlm batch``: the same model flags as ``rlm ask``, results and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rlm_core.cli import main

from .conftest import FIRST_SENTENCE, read_lines, write_jobs
from tests.core.openai_server import OpenAIServer, RawJSON, Reply, Status

pytestmark = pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning')


def _flags(server: OpenAIServer) -> list[str]:
    return ["--base-url", server.base_url, "--model", "m", "--backend", "python", "-q"]


def test_batch_against_an_endpoint(
    jobs_file: Path,
    tmp_path: Path,
    final_server: OpenAIServer,
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "out.jsonl"
    code = main(["batch", str(jobs_file), "--out", str(out), *_flags(final_server)])
    assert code == 0
    records = read_lines(out)
    assert sorted(r["id"] for r in records) == ["q1", "q2", "q3", "q4"]
    assert {r["answer"] for r in records} == {"42"}
    assert all((tmp_path / r["trace"]).is_file() for r in records)
    err = capsys.readouterr().err
    assert "batch: 4 job(s): 4 ok, 0 failed, 0 skipped (already done)" in err
    assert str(tmp_path / "out.traces") in err

    assert main(["batch", str(jobs_file), "--out", str(out), *_flags(final_server)]) == 0
    assert "4 skipped (already done)" in capsys.readouterr().err
    assert len(read_lines(out)) == 4


def test_batch_without_backend_runs_jobs_on_the_default_sandbox(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The documented form (no --backend) runs the model's code on backend "auto"."""
    jobs = write_jobs(
        tmp_path / "jobs.jsonl", [{"id": "a", "query": "First?", "context": "One. Two."}]
    )
    script = [RawJSON({"data": []}), *(Reply(text) for text in FIRST_SENTENCE)]
    out = tmp_path / "out.jsonl"
    with OpenAIServer(script) as server:
        argv = ["batch", str(jobs), "--out", str(out), "--base-url", server.base_url]
        code = main([*argv, "--model", "m", "-q"])
    assert code == 0, capsys.readouterr().err
    [record] = read_lines(out)
    assert (record["status"], record["answer"]) == ("ok", "One")
    trace = json.loads((tmp_path / record["trace"]).read_text(encoding="utf-8"))
    assert trace["metadata"]["batch"]["options"]["backend"] == "auto"
    assert trace["metadata"]["repl_backend"]["requested"] == "auto"


def test_batch_help_lists_the_auto_backend(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["batch", "--help"])
    assert "--backend {auto,isolated,monty,python}" in capsys.readouterr().out


def test_a_failed_job_gives_exit_code_1(
    jobs_file: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    script = [RawJSON({"data": []}), Status(400)]  # /models, then the first job's call
    with OpenAIServer(script, default=Reply("FINAL: 42")) as server:
        out = tmp_path / "out.jsonl"
        code = main(["batch", str(jobs_file), "-o", str(out), "-j", "1", *_flags(server)])
    assert code == 1
    records = {r["id"]: r for r in read_lines(out)}
    assert records["q1"]["status"] == "error"
    assert records["q1"]["error"]["type"] == "AdapterError"
    assert [records[i]["answer"] for i in ("q2", "q3", "q4")] == ["42", "42", "42"]
    assert "3 ok, 1 failed" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("jobs_text", "message"),
    [
        (None, "does not exist: pass a JSONL file"),
        ('{"id": "a", "query": "q"}\n', "jobs.jsonl line 1 (job 'a'): missing 'context'"),
    ],
)
def test_the_jobs_file_is_checked_before_the_endpoint(
    jobs_text: str | None, message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    if jobs_text is not None:
        jobs.write_text(jobs_text, encoding="utf-8")
    with OpenAIServer() as server:
        url = server.base_url  # nothing listens here once the server is stopped
    argv = ["batch", str(jobs), "--out", str(tmp_path / "out.jsonl"), "--base-url", url]
    assert main([*argv, "--model", "m", "-q"]) == 2
    err = capsys.readouterr().err
    assert message in err and "cannot reach" not in err


def test_bad_jobs_are_a_usage_error(
    tmp_path: Path, final_server: OpenAIServer, capsys: pytest.CaptureFixture[str]
) -> None:
    jobs = tmp_path / "jobs.jsonl"
    jobs.write_text('{"id": "a", "query": "q", "context": "t", "max_steps": "many"}\n')
    out = tmp_path / "out.jsonl"
    assert main(["batch", str(jobs), "--out", str(out), *_flags(final_server)]) == 2
    err = capsys.readouterr().err
    assert "rlm: error: 1 problem(s)" in err
    assert "jobs.jsonl line 1 (job 'a'): max_steps: Input should be a valid integer" in err
    assert not out.exists()
    with pytest.raises(SystemExit):
        main(["batch", str(jobs), "--out", str(out), "--concurrency", "0"])
    assert "--concurrency must be at least 1" in capsys.readouterr().err
