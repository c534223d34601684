"""An ``RLMLLM`` is never the model of another RLM: passed or picked up from ``Settings``."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from llama_index.core import Settings

from rlm_core import ConfigError
from rlm_llamaindex import (
    RLMLLM,
    ListwiseLLMRerank,
    LlamaIndexLLMAdapter,
    RLMQueryEngine,
    RLMRetriever,
)

from .helpers import DOCS, scripted_llm

BUILDERS: dict[str, Callable[[], Any]] = {
    "RLMQueryEngine.from_documents": lambda: RLMQueryEngine.from_documents(DOCS),
    "RLMQueryEngine": lambda: RLMQueryEngine(documents=DOCS),
    "RLMRetriever": lambda: RLMRetriever(nodes=DOCS),
    "RLMLLM": lambda: RLMLLM(),
    "ListwiseLLMRerank": lambda: ListwiseLLMRerank(),
    "LlamaIndexLLMAdapter": lambda: LlamaIndexLLMAdapter(),
}


@pytest.mark.parametrize("build", BUILDERS.values(), ids=BUILDERS.keys())
def test_an_rlmllm_in_settings_is_not_taken_as_the_default_llm(build: Callable[[], Any]) -> None:
    inner, _ = scripted_llm()
    Settings.llm = RLMLLM(llm=inner)  # as in the RLMLLM section of the docs

    with pytest.raises(ConfigError, match=r"Settings\.llm is an RLMLLM.*Pass llm=") as caught:
        build()
    assert "not an RLMLLM" in str(caught.value)


@pytest.mark.parametrize("name", ["llm", "sub_llm"])
@pytest.mark.parametrize("owner", [RLMQueryEngine, RLMRetriever, RLMLLM])
def test_an_rlmllm_passed_as_a_model_is_refused(owner: Any, name: str) -> None:
    inner, _ = scripted_llm()
    given = {name: RLMLLM(llm=inner)}
    if name == "sub_llm":
        given["llm"] = inner
    source = {"nodes": DOCS} if owner is RLMRetriever else {"documents": DOCS}

    with pytest.raises(ConfigError, match=f"^{name} must be the model that writes code, not an"):
        owner(**given, **source)


def test_with_an_rlmllm_in_settings_an_explicit_llm_still_works() -> None:
    inner, _ = scripted_llm(["```python\nprint(P[:9])\n```", "FINAL: ok"])
    Settings.llm = RLMLLM(llm=inner)

    assert str(RLMQueryEngine.from_documents(DOCS, llm=inner).query("q")) == "ok"
