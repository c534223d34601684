"""Small builders shared by the core tests."""

from __future__ import annotations

import warnings

from rlm_core import RLM
from rlm_core.adapters import FakeAdapter

SUB = "You are a sub-LLM"


def code(body: str) -> str:
    """A root reply holding one fenced python block."""
    return f"```python\n{body}\n```"


def make_rlm(script: list[str], **options: object) -> tuple[RLM, FakeAdapter]:
    """An RLM over a scripted FakeAdapter on the in-process backend."""
    adapter = FakeAdapter(script=script)
    options.setdefault("repl_backend", "python")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        return RLM(adapter=adapter, **options), adapter  # type: ignore[arg-type]
