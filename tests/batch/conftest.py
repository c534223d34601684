"""Batch tests: loopback-only sockets, a scripted model spec and a small jobs file."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rlm_core.batch import ModelSpec

from tests.core.openai_server import OpenAIServer, Reply

HERE = Path(__file__).parent
LOOPBACK = ["127.0.0.1", "::1", "localhost"]

# Every job gets its own copy of this script: print the first sentence, return it.
FIRST_SENTENCE = [
    "```python\nfirst = P[: P.find('.')]\nprint(first)\n```",
    "FINAL_VAR: first",
]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every batch test may open sockets to loopback only (pytest-socket's allow_hosts)."""
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.allow_hosts(LOOPBACK))


@pytest.fixture
def scripted() -> ModelSpec:
    return ModelSpec.fake(FIRST_SENTENCE)


def write_jobs(path: Path, jobs: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(job) + "\n" for job in jobs), encoding="utf-8")
    return path


def read_lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


@pytest.fixture
def jobs_file(tmp_path: Path) -> Path:
    """Four jobs: inline text, a file, a glob and a list; ids q1..q4."""
    docs = tmp_path / "docs"
    docs.mkdir()
    (docs / "a.txt").write_text("Alpha file. More alpha.\n", encoding="utf-8")
    (docs / "b.txt").write_text("Beta file. More beta.\n", encoding="utf-8")
    return write_jobs(
        tmp_path / "jobs.jsonl",
        [
            {"id": "q1", "query": "First sentence?", "context": "Inline text. Second."},
            {"id": "q2", "query": "First sentence?", "context": {"path": "docs/a.txt"}},
            {"id": "q3", "query": "First sentence?", "context": {"path": "docs/*.txt"}},
            {"id": "q4", "query": "First sentence?", "context": ["Listed. x", {"path": "docs"}]},
        ],
    )


EXPECTED = {
    "q1": "Inline text",
    "q2": "Alpha file",
    "q4": "Listed",
}


@pytest.fixture
def final_server() -> Iterator[OpenAIServer]:
    """An OpenAI-compatible server on 127.0.0.1 that answers every call ``FINAL: 42``."""
    with OpenAIServer(default=Reply("FINAL: 42")) as server:
        yield server
