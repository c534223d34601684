"""A whole RLM run with no context: the model searches a BM25Retriever from the REPL."""

from __future__ import annotations

from rlm_core import RLM
from rlm_core.adapters import FakeAdapter
from rlm_core.retrieval import BM25Retriever

from .toy import DOCS, toy_embed

SEARCH_CODE = """```python
hits = es_search("telescope orbit", top_k=3)
print([h["doc_id"] for h in hits])
doc = es_get(hits[0]["doc_id"])
print(doc["content"])
semantic = es_hybrid_search("feline", top_k=2, filters={"lang": "en"})
print(sorted(h["doc_id"] for h in semantic))
```"""


def test_rlm_searches_the_retriever_without_context() -> None:
    adapter = FakeAdapter(script=[SEARCH_CODE, "FINAL: d2"])
    rlm = RLM(adapter=adapter, retriever=BM25Retriever(DOCS, embedding_fn=toy_embed))
    answer, trace = rlm.run("Which document is about telescopes?")
    assert answer == "d2"
    (step,) = trace.of_kind("repl_exec")
    assert step.error is None
    assert step.stdout is not None
    assert "['d2']" in step.stdout and "rocket carried the telescope" in step.stdout
    assert "['d1', 'd4']" in step.stdout
    system = adapter.calls[0][0]["content"]
    assert "es_search(" in system and "es_get(" in system
    assert "P is empty" in adapter.calls[0][1]["content"]


def test_missing_document_error_reaches_the_model() -> None:
    adapter = FakeAdapter(script=['```python\nes_get("nope")\n```', "FINAL: not found"])
    answer, trace = RLM(adapter=adapter, retriever=BM25Retriever(DOCS)).run("Get nope")
    assert answer == "not found"
    (step,) = trace.of_kind("repl_exec")
    assert step.error is not None and "doc_id='nope'" in step.error
