"""docs/llamaindex.md runs as written: its Python examples, in order, in one namespace.

``llama_index.llms.openai_like`` is replaced by a scripted LLM (see ``docs_models``), the
embedding model is the suite's mock one, and the examples run in a temporary directory
holding the ``reports/`` folder they read.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from llama_index.core import Settings
from pytest_examples import CodeExample, EvalExample, find_examples

from . import docs_models

PAGE = Path(__file__).resolve().parents[2] / "docs" / "llamaindex.md"
EXAMPLES = [example for example in find_examples(PAGE) if example.prefix.startswith("py")]
REPORTS = {
    "heron.txt": "Beta memo. The launch code for project Heron is 7319, kept in the vault.",
    "orchard.txt": "Alpha report. The orchard grows apples and pears along the river.",
}


def test_the_page_has_examples_and_install_lines() -> None:
    text = PAGE.read_text()
    assert len(EXAMPLES) >= 9
    assert "pip install rlm-llamaindex llama-index-llms-openai-like" in text


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
    reports = tmp_path / "reports"
    reports.mkdir()
    for name, text in REPORTS.items():
        (reports / name).write_text(text)
    monkeypatch.chdir(tmp_path)
    saved = Settings._llm
    try:
        result = eval_example.run(example, module_globals=namespace)
    finally:
        Settings._llm = saved
    namespace.update({name: value for name, value in result.items() if not name.startswith("__")})
