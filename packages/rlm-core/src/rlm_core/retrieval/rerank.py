"""LLM rerankers: the model permutes small windows of passages by relevance.

``ListwiseReranker`` slides a window from the bottom of the list to the top
(so strong documents bubble up, and the top is ranked in one full window);
``TournamentReranker`` keeps the best few of each shuffled batch, round after round.
Both tolerate malformed replies: ids the model did not mention keep their original
relative order after the ones it did.
"""

from __future__ import annotations

import random
import re
from collections.abc import Mapping, Sequence
from typing import Any

from rlm_core.errors import ConfigError
from rlm_core.retrieval._llm import CachedCaller

SYSTEM_PROMPT = (
    "You rank passages by how relevant they are to a search query. "
    "Answer only with the passage identifiers, most relevant first, like: [2] > [1] > [3]"
)

_BRACKETED = re.compile(r"\[\s*(\d+)\s*\]")
_NUMBER = re.compile(r"(?<![\d.])(\d+)(?![\d.])")


def parse_permutation(reply: str, size: int) -> list[int]:
    """0-based order of ``size`` passages from a reply like "[3] > [1] > [2]".

    Out-of-range and repeated ids are ignored; missing ones follow in their
    original order. Bracketed ids are preferred; bare numbers are the fallback."""
    found = _BRACKETED.findall(reply) or _NUMBER.findall(reply)
    order: list[int] = []
    for token in found:
        index = int(token) - 1
        if 0 <= index < size and index not in order:
            order.append(index)
    order.extend(i for i in range(size) if i not in order)
    return order


def _check_int(name: str, value: Any, floor: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < floor:
        raise ConfigError(f"{name} must be an int >= {floor}, got {value!r}")
    return value


def _check_candidates(candidates: Any) -> list[Mapping[str, Any]]:
    if isinstance(candidates, str | bytes) or not isinstance(candidates, Sequence):
        raise ConfigError(
            "candidates must be a list of dicts with 'doc_id' and 'content' or 'preview'"
        )
    for index, item in enumerate(candidates):
        if not isinstance(item, Mapping) or "doc_id" not in item:
            raise ConfigError(f"candidate {index} must be a dict with a 'doc_id', got {item!r:.80}")
    return list(candidates)


class _PermutationRanker:
    """Shared machinery: prompt one window, parse the permutation, count calls."""

    def __init__(self, adapter: Any, max_passage_chars: int, cache: Any, purpose: str) -> None:
        self.max_passage_chars = _check_int("max_passage_chars", max_passage_chars)
        self._call = CachedCaller(adapter, cache, purpose)

    @property
    def llm_calls(self) -> int:
        """Model calls actually made (cache hits excluded)."""
        return self._call.llm_calls

    @property
    def cache_hits(self) -> int:
        """Windows answered from the cache."""
        return self._call.cache_hits

    @property
    def tokens_used(self) -> int:
        return self._call.tokens_used

    def _passage(self, candidate: Mapping[str, Any]) -> str:
        text = candidate.get("content") or candidate.get("preview") or ""
        text = " ".join(str(text).split())
        return text[: self.max_passage_chars]

    def _permute(self, query: str, window: Sequence[Mapping[str, Any]]) -> list[int]:
        if len(window) < 2:
            return list(range(len(window)))
        passages = "\n".join(f"[{i}] {self._passage(c)}" for i, c in enumerate(window, 1))
        user = (
            f"Query: {query}\n\n{passages}\n\nRank the {len(window)} passages above from most to "
            "least relevant to the query. Answer only with the identifiers, e.g. [2] > [1]."
        )
        messages = [{"role": "system", "content": SYSTEM_PROMPT}, {"role": "user", "content": user}]
        reply = self._call(messages, max_tokens=8 * len(window) + 16)
        return parse_permutation(reply, len(window))


def window_starts(size: int, window_size: int, step: int) -> list[int]:
    """Where the sliding windows start, in the order they run: from the bottom of a list of
    ``size`` up by ``step``, every window ``window_size`` long, the last one at the top (0).

    With 25 candidates, windows of 20 and step 10: ``[5, 0]``, i.e. 5-24 then 0-19, so the
    top of the list is always ranked in one full window."""
    starts = [max(0, size - window_size)]
    while starts[-1] > 0:
        starts.append(max(0, starts[-1] - step))
    return starts


class ListwiseReranker(_PermutationRanker):
    """Sliding-window listwise reranking (RankGPT style), best for pools up to ~200.

    Windows of ``window_size`` move from the bottom of the list to the top by
    ``step`` (see ``window_starts``); the last window always covers the top
    ``window_size`` candidates. Each window is permuted by the model, so a strong
    document found late can climb to the top. Telemetry: ``llm_calls``, ``cache_hits``.
    """

    def __init__(
        self,
        adapter: Any,
        window_size: int = 20,
        step: int = 10,
        max_passage_chars: int = 300,
        cache: Any = None,
    ) -> None:
        super().__init__(adapter, max_passage_chars, cache, "listwise_rerank")
        self.window_size = _check_int("window_size", window_size, 2)
        self.step = _check_int("step", step)
        if self.step > self.window_size:
            raise ConfigError(f"step ({step}) must not exceed window_size ({window_size})")

    def rerank(
        self, query: str, candidates: Sequence[Mapping[str, Any]], top_k: int = 10
    ) -> list[dict[str, Any]]:
        """The ``top_k`` candidates in reranked order (copies of the input dicts)."""
        _check_int("top_k", top_k)
        ranked = [dict(c) for c in _check_candidates(candidates)]
        for start in window_starts(len(ranked), self.window_size, self.step):
            end = start + self.window_size
            window = ranked[start:end]
            ranked[start:end] = [window[i] for i in self._permute(query, window)]
        return ranked[:top_k]


class TournamentReranker(_PermutationRanker):
    """Knock-out reranking for large pools (300-2,500): shuffle into batches, keep the
    top ``top_k_per_batch`` of each, repeat until one batch remains, rank it.

    Eliminated documents are appended after the winners (later rounds first),
    so a result always has ``min(top_k, len(candidates))`` documents."""

    def __init__(
        self,
        adapter: Any,
        batch_size: int = 20,
        top_k_per_batch: int = 4,
        shuffle_seed: int | None = 42,
        max_passage_chars: int = 300,
        cache: Any = None,
    ) -> None:
        super().__init__(adapter, max_passage_chars, cache, "tournament_rerank")
        self.batch_size = _check_int("batch_size", batch_size, 2)
        self.top_k_per_batch = _check_int("top_k_per_batch", top_k_per_batch)
        if self.top_k_per_batch >= self.batch_size:
            raise ConfigError(
                f"top_k_per_batch ({top_k_per_batch}) must be smaller than batch_size "
                f"({batch_size}), or the pool would never shrink"
            )
        self.shuffle_seed = shuffle_seed
        self.rounds = 0

    def rerank(
        self, query: str, candidates: Sequence[Mapping[str, Any]], top_k: int = 10
    ) -> list[dict[str, Any]]:
        """The ``top_k`` winners in ranked order (copies of the input dicts)."""
        _check_int("top_k", top_k)
        pool = [dict(c) for c in _check_candidates(candidates)]
        rng = random.Random(self.shuffle_seed)
        eliminated: list[list[dict[str, Any]]] = []
        self.rounds = 0
        while len(pool) > self.batch_size:
            self.rounds += 1
            rng.shuffle(pool)
            survivors: list[dict[str, Any]] = []
            out: list[dict[str, Any]] = []
            for start in range(0, len(pool), self.batch_size):
                batch = pool[start : start + self.batch_size]
                ordered = [batch[i] for i in self._permute(query, batch)]
                survivors.extend(ordered[: self.top_k_per_batch])
                out.extend(ordered[self.top_k_per_batch :])
            eliminated.append(out)
            pool = survivors
        self.rounds += 1
        final = [pool[i] for i in self._permute(query, pool)]
        for out in reversed(eliminated):
            final.extend(out)
        return final[:top_k]
