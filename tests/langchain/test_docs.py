"""docs/langchain.md runs as written: its Python examples, in order, in one namespace.

``langchain_openai`` is replaced by scripted models (see ``docs_models``) and the
examples run in a temporary directory holding the ``book.txt`` they read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from . import docs_models

PAGE = Path(__file__).resolve().parents[2] / "docs" / "langchain.md"
EXAMPLES = [example for example in find_examples(PAGE) if example.prefix.startswith("py")]
BOOK = "Call me Ishmael. Some years ago I went to sea.\n" * 20


def test_the_page_has_examples_and_install_lines() -> None:
    text = PAGE.read_text()
    assert len(EXAMPLES) >= 10
    assert "pip install rlm-langchain langchain-openai" in text
    assert "| Tool calling | Structured output | Token-level streaming |" in text


@pytest.fixture(scope="module")
def namespace() -> dict[str, Any]:
    """The globals the examples share, as the page is read top to bottom."""
    return {}


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(
    example: CodeExample,
    eval_example: EvalExample,
    namespace: dict[str, Any],
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
) -> None:
    docs_models.install(monkeypatch)
    (tmp_path / "book.txt").write_text(BOOK)
    monkeypatch.chdir(tmp_path)
    result = eval_example.run(example, module_globals=namespace)
    namespace.update({name: value for name, value in result.items() if not name.startswith("__")})
