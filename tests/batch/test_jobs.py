"""The jobs file is checked up front: every problem named with its line and job id."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_core.batch import BatchInputError, FileRef, JobOptions, load_jobs
from rlm_core.batch.jobs import coerce_jobs

from .conftest import write_jobs


def test_loads_text_path_glob_and_list_contexts(jobs_file: Path) -> None:
    jobs = load_jobs(jobs_file)
    assert [job.id for job in jobs] == ["q1", "q2", "q3", "q4"]
    assert [job.line for job in jobs] == [1, 2, 3, 4]
    docs = jobs_file.parent / "docs"
    assert jobs[0].load_context().text == "Inline text. Second."
    assert isinstance(jobs[1].context, FileRef)
    assert jobs[1].context.files == (str((docs / "a.txt").resolve()),)
    assert jobs[1].load_context().text == "Alpha file. More alpha.\n"
    glob_ctx = jobs[2].load_context()
    assert glob_ctx.num_documents() == 2
    assert glob_ctx.get_document(1).startswith(f"=== {(docs / 'b.txt').resolve()} ===\nBeta")
    listed = jobs[3].load_context()
    assert listed.num_documents() == 3 and listed.get_document(0) == "Listed. x"


def test_job_options_override_the_defaults(tmp_path: Path) -> None:
    path = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": 7, "query": "q", "context": "text", "max_steps": 3, "temperature": 1},
            {"id": "b", "query": "q", "context": "text"},
        ],
    )
    first, second = load_jobs(path, JobOptions(max_steps=5, backend="python"))
    assert first.id == "7"
    assert (first.options.max_steps, first.options.temperature) == (3, 1.0)
    assert first.options.backend == "python"
    assert second.options.max_steps == 5


def test_the_default_backend_is_auto_like_rlm(tmp_path: Path) -> None:
    """Jobs run on the strongest sandbox the machine has unless a backend is named."""
    assert JobOptions().backend == "auto"
    path = write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "a", "query": "q", "context": "text"},
            {"id": "b", "query": "q", "context": "text", "backend": "auto"},
        ],
    )
    first, second = load_jobs(path, JobOptions(backend="python"))
    assert (first.options.backend, second.options.backend) == ("python", "auto")


def test_every_problem_is_reported_with_line_and_id(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"\x00\x01binary")
    path = tmp_path / "jobs.jsonl"
    path.write_text(
        "\n".join(
            [
                '{"id": "ok", "query": "q", "context": "text"}',
                '{"id": "broken", "query": ',
                '{"id": "nokey", "query": "q"}',
                '{"id": "opt", "query": "q", "context": "t", "max_stpes": 2}',
                '{"id": "neg", "query": "q", "context": "t", "max_steps": 0}',
                '{"id": "ok", "query": "q", "context": "again"}',
                '{"id": "gone", "query": "q", "context": {"path": "missing.txt"}}',
                '{"id": "bin", "query": "q", "context": {"path": "blob.bin"}}',
                '{"id": "shape", "query": "q", "context": 42}',
                '{"id": "back", "query": "q", "context": "t", "backend": "nope"}',
                '{"id": "blank", "query": "  ", "context": "t"}',
            ]
        ),
        encoding="utf-8",
    )
    with pytest.raises(BatchInputError) as caught:
        load_jobs(path)
    message = str(caught.value)
    assert message.startswith(f"10 problem(s) in {path}")
    for expected in (
        "jobs.jsonl line 2: not valid JSON",
        "line 3 (job 'nokey'): missing 'context'",
        "line 4 (job 'opt'): unknown key 'max_stpes'",
        "line 5 (job 'neg'): max_steps: Input should be greater than or equal to 1",
        "line 6: job id 'ok' is already used on line 1",
        "line 7 (job 'gone'): context path 'missing.txt': no such file or folder",
        "line 8 (job 'bin'): context path 'blob.bin': looks like a binary file",
        "line 9 (job 'shape'): context must be text",
        "line 10 (job 'back'): backend: Value error, unknown REPL backend 'nope'",
        "line 11 (job 'blank'): query: Value error, the query is blank",
    ):
        assert expected in message


def test_bad_jobs_files(tmp_path: Path) -> None:
    with pytest.raises(BatchInputError, match="does not exist"):
        load_jobs(tmp_path / "nope.jsonl")
    with pytest.raises(BatchInputError, match="is a folder"):
        load_jobs(tmp_path)
    (tmp_path / "empty.jsonl").write_text("\n\n", encoding="utf-8")
    with pytest.raises(BatchInputError, match="holds no jobs"):
        load_jobs(tmp_path / "empty.jsonl")
    with pytest.raises(BatchInputError, match=r"jobs\[0\] \(job 'x'\): the context text is empty"):
        coerce_jobs([{"id": "x", "query": "q", "context": " "}])
    with pytest.raises(BatchInputError, match="a job must be a JSON object"):
        coerce_jobs(["not a job"])  # type: ignore[list-item]
