"""ListwiseReranker, TournamentReranker, permutation parsing and ranking metrics."""

from __future__ import annotations

import math
import re
from pathlib import Path

import pytest

from rlm_core import (
    ConfigError,
    FileCache,
    ListwiseReranker,
    TournamentReranker,
    ndcg_at_k,
    recall_at_k,
)
from rlm_core.adapters import FakeAdapter
from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.retrieval.rerank import parse_permutation


def pool(n: int) -> list[dict[str, str]]:
    return [
        {"doc_id": chr(ord("a") + i), "content": f"passage {chr(ord('a') + i)}"} for i in range(n)
    ]


class GoldFirstAdapter:
    """A model that ranks passages containing GOLD above the others (original order kept)."""

    model = "gold-first"

    def __init__(self) -> None:
        self.calls = 0

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        self.calls += 1
        passages = re.findall(r"^\[(\d+)\] (.*)$", messages[-1]["content"], re.MULTILINE)
        gold = [n for n, text in passages if "GOLD" in text]
        rest = [n for n, text in passages if "GOLD" not in text]
        return ModelResponse(" > ".join(f"[{n}]" for n in gold + rest), Usage(10, 5))


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("[3] > [1] > [2]", [2, 0, 1]),
        ("[3] > [1]", [2, 0, 1]),  # partial: missing id appended
        ("[2] > [2] > [9] > [0] > [1]", [1, 0, 2]),  # duplicates / out of range dropped
        ("The best is passage 3, then 1.", [2, 0, 1]),  # prose, bare numbers
        ("I cannot decide.", [0, 1, 2]),  # nothing usable: original order
        ("", [0, 1, 2]),
        ("[ 2 ]>[3]", [1, 2, 0]),
    ],
)
def test_parse_permutation(reply: str, expected: list[int]) -> None:
    assert parse_permutation(reply, 3) == expected


def test_listwise_slides_bottom_to_top() -> None:
    adapter = FakeAdapter(script=["[3] > [1] > [2]", "[3] > [2] > [1]"])
    reranker = ListwiseReranker(adapter, window_size=3, step=2)
    ranked = reranker.rerank("q", pool(5), top_k=5)
    # window 1 = c,d,e -> e,c,d ; list a,b,e,c,d ; window 2 = a,b,e -> e,b,a
    assert [d["doc_id"] for d in ranked] == ["e", "b", "a", "c", "d"]
    assert reranker.llm_calls == 2 and reranker.cache_hits == 0
    first_prompt = adapter.calls[0][-1]["content"]
    assert "[1] passage c" in first_prompt and "[3] passage e" in first_prompt
    assert "Query: q" in first_prompt


def test_listwise_top_k_and_passage_truncation() -> None:
    adapter = FakeAdapter(default="[2] > [1]")
    docs = [{"doc_id": "x", "preview": "p" * 50}, {"doc_id": "y", "content": "q" * 50}]
    ranked = ListwiseReranker(adapter, max_passage_chars=10).rerank("q", docs, top_k=1)
    assert ranked == [{"doc_id": "y", "content": "q" * 50}]
    assert "[1] pppppppppp\n" in adapter.calls[0][-1]["content"]


def test_listwise_malformed_replies_keep_original_order() -> None:
    adapter = FakeAdapter(default="Sorry, here you go: [2]")
    ranked = ListwiseReranker(adapter, window_size=4, step=2).rerank("q", pool(4), top_k=4)
    assert [d["doc_id"] for d in ranked] == ["b", "a", "c", "d"]


def test_listwise_brings_gold_to_top() -> None:
    docs = pool(30)
    docs[25]["content"] += " GOLD"
    docs[29]["content"] += " GOLD"
    adapter = GoldFirstAdapter()
    reranker = ListwiseReranker(adapter, window_size=10, step=5)
    ranked = reranker.rerank("q", docs, top_k=3)
    assert [d["doc_id"] for d in ranked[:2]] == [docs[25]["doc_id"], docs[29]["doc_id"]]
    assert reranker.llm_calls == adapter.calls == 5  # ends 30, 25, 20, 15, 10 (start 0)


def test_cache_hits(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    first = ListwiseReranker(
        FakeAdapter(script=["[2] > [1] > [3]"]), window_size=3, step=2, cache=cache
    )
    ranked = first.rerank("q", pool(3))
    second = ListwiseReranker(FakeAdapter(), window_size=3, step=2, cache=cache)  # empty script
    assert second.rerank("q", pool(3)) == ranked
    assert (second.llm_calls, second.cache_hits) == (0, 1)
    assert (first.llm_calls, first.cache_hits) == (1, 0)


def test_tournament_rounds_and_gold() -> None:
    docs = pool(10)
    docs[7]["content"] += " GOLD"
    adapter = GoldFirstAdapter()
    reranker = TournamentReranker(adapter, batch_size=4, top_k_per_batch=2, shuffle_seed=1)
    ranked = reranker.rerank("q", docs, top_k=10)
    assert ranked[0]["doc_id"] == "h"
    assert sorted(d["doc_id"] for d in ranked) == [d["doc_id"] for d in docs]  # nothing lost
    # 10 -> batches 4,4,2 (3 calls) -> 6 -> batches 4,2 (2 calls) -> 4 -> final (1 call)
    assert reranker.llm_calls == 6 and reranker.rounds == 3


def test_tournament_is_deterministic_with_seed_and_tolerates_garbage() -> None:
    def run() -> list[str]:
        reranker = TournamentReranker(
            FakeAdapter(default="no idea"), batch_size=3, top_k_per_batch=1, shuffle_seed=7
        )
        return [d["doc_id"] for d in reranker.rerank("q", pool(9), top_k=4)]

    assert run() == run()
    assert len(set(run())) == 4


def test_tournament_cache(tmp_path: Path) -> None:
    cache = FileCache(tmp_path)
    a = TournamentReranker(GoldFirstAdapter(), batch_size=4, top_k_per_batch=2, cache=cache)
    b = TournamentReranker(GoldFirstAdapter(), batch_size=4, top_k_per_batch=2, cache=cache)
    assert a.rerank("q", pool(10)) == b.rerank("q", pool(10))
    assert b.llm_calls == 0 and b.cache_hits == a.llm_calls == 6


def test_reranker_config_errors() -> None:
    adapter = FakeAdapter()
    with pytest.raises(ConfigError, match="step"):
        ListwiseReranker(adapter, window_size=5, step=6)
    with pytest.raises(ConfigError, match="top_k_per_batch"):
        TournamentReranker(adapter, batch_size=4, top_k_per_batch=4)
    with pytest.raises(ConfigError, match="adapter"):
        ListwiseReranker(object())
    with pytest.raises(ConfigError, match="doc_id"):
        ListwiseReranker(adapter).rerank("q", [{"content": "x"}])
    with pytest.raises(ConfigError, match="cache"):
        ListwiseReranker(adapter, cache="dir")


def test_ndcg_and_recall_hand_computed() -> None:
    qrels = {"a": 1, "c": 2, "e": 1}
    ranked = ["a", "b", "c", "d"]
    # DCG@3 = 1/log2(2) + 0 + 2/log2(4) = 2 ; IDCG@3 = 2 + 1/log2(3) + 1/log2(4)
    idcg = 2 + 1 / math.log2(3) + 0.5
    assert ndcg_at_k(ranked, qrels, k=3) == pytest.approx(2 / idcg)
    assert ndcg_at_k(["c", "a", "e"], qrels, k=3) == pytest.approx(1.0)
    assert recall_at_k(ranked, qrels, k=3) == pytest.approx(2 / 3)
    assert recall_at_k(ranked, qrels, k=1) == pytest.approx(1 / 3)
    assert ndcg_at_k(["a", "a", "c"], qrels, k=2) == ndcg_at_k(["a", "c"], qrels, k=2)
    assert ndcg_at_k(ranked, {}, k=3) == 0.0 and recall_at_k(ranked, {"z": 0}, k=3) == 0.0
    with pytest.raises(ValueError, match="k must be"):
        ndcg_at_k(ranked, qrels, k=0)


class WindowRecorder:
    """A model that keeps each window's order and records which doc ids it was shown."""

    model = "recorder"

    def __init__(self) -> None:
        self.windows: list[list[str]] = []

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        shown = re.findall(r"^\[\d+\] passage (\w+)$", messages[-1]["content"], re.MULTILINE)
        self.windows.append(shown)
        return ModelResponse(" > ".join(f"[{i}]" for i in range(1, len(shown) + 1)), Usage())


def names(start: int, end: int) -> list[str]:
    return [chr(ord("a") + i) for i in range(start, end)]


@pytest.mark.parametrize(
    ("size", "window_size", "step", "spans"),
    [
        (25, 20, 10, [(5, 25), (0, 20)]),  # the top window is full, not 0-14
        (26, 10, 7, [(16, 26), (9, 19), (2, 12), (0, 10)]),
        (12, 4, 4, [(8, 12), (4, 8), (0, 4)]),
        (3, 5, 2, [(0, 3)]),  # fewer candidates than one window: one call
        (5, 3, 2, [(2, 5), (0, 3)]),
    ],
)
def test_listwise_windows_are_full_and_end_at_the_top(
    size: int, window_size: int, step: int, spans: list[tuple[int, int]]
) -> None:
    adapter = WindowRecorder()
    reranker = ListwiseReranker(adapter, window_size=window_size, step=step)
    ranked = reranker.rerank("q", pool(size), top_k=size)
    assert adapter.windows == [names(start, end) for start, end in spans]
    assert [d["doc_id"] for d in ranked] == names(0, size)  # identity permutations
    assert reranker.llm_calls == len(spans)


class ScoreSorter:
    """A model that ranks passages by the number they contain, highest first."""

    model = "sorter"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        shown = re.findall(r"^\[(\d+)\] score (\d+)$", messages[-1]["content"], re.MULTILINE)
        order = sorted(shown, key=lambda item: -int(item[1]))
        return ModelResponse(" > ".join(f"[{n}]" for n, _ in order), Usage())


def test_listwise_last_window_reranks_the_whole_top() -> None:
    # 5 weak candidates first, then 20 strong ones: the strong ones must fill the top 15.
    scores = [1, 2, 3, 4, 5, *range(100, 120)]
    docs = [{"doc_id": str(s), "content": f"score {s}"} for s in scores]
    ranked = ListwiseReranker(ScoreSorter(), window_size=20, step=10).rerank("q", docs, 15)
    # A last window of 0-14 would leave 109..105 below the weak ones.
    assert [int(d["doc_id"]) for d in ranked] == list(range(119, 104, -1))
