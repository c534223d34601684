"""docs/sessions-and-tools.md and docs/concepts.md run as written, each example on its own."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGE = DOCS / "sessions-and-tools.md"
EXAMPLES = [
    example
    for example in find_examples(PAGE, DOCS / "concepts.md")
    if example.prefix.startswith("py")
]


def test_the_page_has_an_example_for_each_part() -> None:
    assert len([example for example in EXAMPLES if example.path == PAGE]) >= 6


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
