"""SingleSearchRetriever: the shared base of the framework retriever adapters."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rlm_core import ConfigError
from rlm_core.retrieval import (
    DocumentNotFoundError,
    FoundDocument,
    RetrieverProtocol,
    SingleSearchRetriever,
)


class ListRetriever(SingleSearchRetriever[int]):
    """Returns the first ``limit`` documents containing a query word, in list order."""

    def __init__(self, docs: list[tuple[str, Mapping[str, Any]]], **options: Any) -> None:
        super().__init__(**options)
        self.docs = docs
        self.limits: list[int] = []
        self.hits_seen: list[list[str]] = []
        self.read: list[str] = []

    def fetch(self, query: str, limit: int) -> list[FoundDocument[int]]:
        self.limits.append(limit)
        words = set(query.split())
        found = [
            FoundDocument(f"d{i}", text, meta, 1.0 / (i + 1), i)
            for i, (text, meta) in enumerate(self.docs)
            if words & set(text.split())
        ]
        return found[:limit]

    def on_hits(self, hits: Any) -> None:
        self.hits_seen.append([h.doc_id for h in hits])

    def on_get(self, document: FoundDocument[int]) -> None:
        self.read.append(document.doc_id)


DOCS: list[tuple[str, Mapping[str, Any]]] = [
    ("alpha one", {"tags": ["x", "y"], "year": 2020}),
    ("alpha two", {"tags": ["z"], "year": 2021}),
    ("alpha three", {"tags": "y", "year": 2022}),
    ("alpha four", {"year": 2023}),
    ("alpha five", {"tags": ["y"], "year": 2024}),
]


def ids(hits: list[Any]) -> list[str]:
    return [h["doc_id"] for h in hits]


def test_protocol_search_get_and_hooks() -> None:
    r = ListRetriever(DOCS, preview_chars=5)
    assert isinstance(r, RetrieverProtocol)
    hits = r.search("alpha", top_k=2)
    assert hits == [
        {"doc_id": "d0", "preview": "alpha", "score": 1.0, "metadata": dict(DOCS[0][1])},
        {"doc_id": "d1", "preview": "alpha", "score": 0.5, "metadata": dict(DOCS[1][1])},
    ]
    assert r.limits == [2] and r.hits_seen == [["d0", "d1"]]
    assert r.vector_search("alpha", top_k=1) == r.hybrid_search("alpha", top_k=1) == hits[:1]
    assert r.get("d1") == {"doc_id": "d1", "content": "alpha two", "metadata": dict(DOCS[1][1])}
    assert r.read == ["d1"]


def test_filters_apply_before_the_cut_and_match_list_metadata() -> None:
    r = ListRetriever(DOCS, filter_overfetch=3)
    # d0 and d4 hold "y" inside a list, d2 as a plain value: all three match.
    assert ids(r.search("alpha", top_k=2, filters={"tags": "y"})) == ["d0", "d2"]
    assert r.limits == [6]  # top_k * filter_overfetch
    assert ids(r.search("alpha", top_k=5, filters={"tags": ["z", "y"]})) == ["d0", "d1", "d2", "d4"]
    assert r.limits[-1] == 15
    assert r.search("alpha", filters={"tags": "nope"}) == []


def test_unknown_ids_and_bad_arguments() -> None:
    r = ListRetriever(DOCS)
    with pytest.raises(DocumentNotFoundError, match="call es_search first") as info:
        r.get("d3")
    assert isinstance(info.value, KeyError)
    with pytest.raises(ConfigError, match="top_k"):
        r.search("alpha", top_k=0)
    with pytest.raises(ConfigError, match="query"):
        r.search("  ")
    with pytest.raises(ConfigError, match="cache_size"):
        ListRetriever(DOCS, cache_size=0)


def test_cache_is_bounded_and_shareable() -> None:
    r = ListRetriever(DOCS, cache_size=2)
    r.search("alpha", top_k=5)
    assert [f.doc_id for f in r.cached] == ["d3", "d4"]  # oldest dropped first
    with pytest.raises(DocumentNotFoundError):
        r.get("d0")
    other = ListRetriever(DOCS, cache_size=2)
    other.share_cache_with(r)
    assert other.get("d4")["content"] == "alpha five"
