"""docs/sessions-and-tools.md runs as written: each Python example on its own."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

PAGE = Path(__file__).resolve().parents[2] / "docs" / "sessions-and-tools.md"
EXAMPLES = [example for example in find_examples(PAGE) if example.prefix.startswith("py")]


def test_the_page_has_an_example_for_each_part() -> None:
    assert len(EXAMPLES) >= 6


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(
    example: CodeExample,
    eval_example: EvalExample,
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    monkeypatch.chdir(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eval_example.run(example)
