"""docs/scale.md: the file-backed context and local batch examples run as written."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

PAGE = Path(__file__).resolve().parents[2] / "docs" / "scale.md"
# The Elasticsearch and Ray examples need a cluster; these two need nothing.
RUNNABLE = ("Context.from_file(", "run_batch(jobs,")
EXAMPLES = [
    example
    for example in find_examples(PAGE)
    if example.prefix.startswith("py") and any(marker in example.source for marker in RUNNABLE)
]


def test_both_examples_are_found() -> None:
    assert len(EXAMPLES) == 2


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(
    example: CodeExample, eval_example: EvalExample, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eval_example.run(example)
