"""docs/migrating.md runs as written, and its one-line restores do what they say."""

from __future__ import annotations

import functools
import warnings
from pathlib import Path

import pytest
from pytest_examples import CodeExample, EvalExample, find_examples

from rlm_core import RLM, Context
from rlm_core.adapters import FakeAdapter, GenericChatAdapter
from rlm_core.repl.monty_repl import create_monty_repl

PAGE = Path(__file__).resolve().parents[2] / "docs" / "migrating.md"
EXAMPLES = [example for example in find_examples(PAGE) if example.prefix.startswith("py")]


def test_the_page_has_its_example() -> None:
    assert EXAMPLES


@pytest.mark.parametrize("example", EXAMPLES, ids=str)
def test_example_runs(example: CodeExample, eval_example: EvalExample) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        eval_example.run_print_check(example)


def test_restores_named_in_the_table() -> None:
    adapter = GenericChatAdapter("http://127.0.0.1:1/v1/chat/completions", path="", model="m")
    assert adapter.url == "http://127.0.0.1:1/v1/chat/completions"
    monty = functools.partial(create_monty_repl, duration_seconds=5, memory_mb=128)
    rlm = RLM(FakeAdapter(["x = 1", "FINAL: done"]), repl_backend=monty)
    assert rlm.run("q", "some text")[0] == "done"
    ctx = Context.from_text("intro <!-- Page 3 -->third page<!-- Page 4 -->fourth")
    assert ctx.text.split("<!-- Page 3 -->")[1].split("<!-- Page ")[0] == "third page"
