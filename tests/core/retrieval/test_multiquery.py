"""QueryRewriter reply parsing, caching and union_pool."""

from __future__ import annotations

from pathlib import Path

import pytest

from rlm_core import ConfigError, FileCache, QueryRewriter, union_pool
from rlm_core.adapters import FakeAdapter


@pytest.mark.parametrize(
    "reply",
    [
        '{"rewrites": ["alpha", "beta", "gamma"]}',
        '["alpha", "beta", "gamma"]',
        'Sure!\n```json\n{"rewrites": ["alpha", "beta", "gamma"]}\n```\nHope it helps.',
        "1. alpha\n2. beta\n3) gamma",
        '- alpha\n- "beta"\n* gamma',
        '{"queries": ["alpha", "beta", "gamma"]}',
        '[{"query": "alpha"}, {"query": "beta"}, {"query": "gamma"}]',
    ],
)
def test_parsing_variants(reply: str) -> None:
    rewriter = QueryRewriter(FakeAdapter(script=[reply]), n=5)
    assert rewriter.rewrite("original") == ["alpha", "beta", "gamma"]


def test_cut_to_n_dedupes_and_drops_the_original() -> None:
    reply = '{"rewrites": ["Original", "a", "A", "b", "c", "d"]}'
    assert QueryRewriter(FakeAdapter(script=[reply]), n=3).rewrite("original") == ["a", "b", "c"]


def test_prompt_and_request() -> None:
    adapter = FakeAdapter(script=['["x"]'])
    rewriter = QueryRewriter(
        adapter, n=4, system_prompt="Give {n} rewrites as JSON.", max_tokens=50
    )
    rewriter.rewrite("find proofs by induction")
    system, user = adapter.calls[0]
    assert system == {"role": "system", "content": "Give 4 rewrites as JSON."}
    assert user["content"] == "Query: find proofs by induction"
    assert rewriter.llm_calls == 1


def test_unusable_reply_gives_no_rewrites() -> None:
    assert QueryRewriter(FakeAdapter(script=["```\n```"])).rewrite("q") == []


def test_cache(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    QueryRewriter(FakeAdapter(script=['["a", "b"]']), cache=cache).rewrite("q")
    again = QueryRewriter(FakeAdapter(), cache=cache)
    assert again.rewrite("q") == ["a", "b"]
    assert (again.llm_calls, again.cache_hits) == (0, 1)


def test_config_errors() -> None:
    with pytest.raises(ConfigError, match="n must"):
        QueryRewriter(FakeAdapter(), n=0)
    with pytest.raises(ConfigError, match="query"):
        QueryRewriter(FakeAdapter()).rewrite(" ")


def test_union_pool_first_occurrence_wins() -> None:
    a = [{"doc_id": "1", "score": 9.0}, {"doc_id": "2", "score": 8.0}]
    b = [{"doc_id": "2", "score": 99.0}, {"doc_id": "3", "score": 1.0}]
    c = [{"doc_id": "1", "score": 0.1}, {"doc_id": "4", "score": 0.2}]
    merged = union_pool([a, b, c])
    assert [h["doc_id"] for h in merged] == ["1", "2", "3", "4"]
    assert merged[1]["score"] == 8.0
    assert union_pool([]) == []
    with pytest.raises(ConfigError, match="doc_id"):
        union_pool([[{"id": "x"}]])
