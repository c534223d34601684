"""Combine a keyword and a vector result list into one ranking (hybrid search)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from rlm_core.errors import ConfigError
from rlm_core.retrieval.base import SearchHit

HybridMethod = Literal["rrf", "weighted"]


def check_hybrid(method: str, rrf_k: int, weight: float) -> HybridMethod:
    """Validate hybrid options at construction time."""
    if method not in ("rrf", "weighted"):
        raise ConfigError(f"hybrid_method must be 'rrf' or 'weighted', got {method!r}")
    if isinstance(rrf_k, bool) or not isinstance(rrf_k, int) or rrf_k < 1:
        raise ConfigError(f"rrf_k must be an int >= 1, got {rrf_k!r}")
    if not isinstance(weight, int | float) or not 0.0 <= weight <= 1.0:
        raise ConfigError(f"hybrid_weight must be between 0 and 1, got {weight!r}")
    return method  # type: ignore[return-value]


def reciprocal_rank_fusion(
    result_lists: Sequence[Sequence[SearchHit]], k: int = 60
) -> list[SearchHit]:
    """Score each doc by sum(1 / (k + rank)) over the lists; ties keep first-seen order."""
    scores: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    for hits in result_lists:
        for rank, hit in enumerate(hits, start=1):
            doc_id = hit["doc_id"]
            scores[doc_id] = scores.get(doc_id, 0.0) + 1.0 / (k + rank)
            first.setdefault(doc_id, hit)
    order = sorted(scores, key=lambda d: -scores[d])  # stable: first-seen order on ties
    return [{**first[d], "score": scores[d]} for d in order]


def weighted_fusion(
    keyword: Sequence[SearchHit], vector: Sequence[SearchHit], vector_weight: float = 0.5
) -> list[SearchHit]:
    """Min-max normalise each list's scores, then (1 - w) * keyword + w * vector."""
    combined: dict[str, float] = {}
    first: dict[str, SearchHit] = {}
    for hits, weight in ((keyword, 1.0 - vector_weight), (vector, vector_weight)):
        if not hits:
            continue
        values = [hit["score"] for hit in hits]
        low, high = min(values), max(values)
        span = high - low
        for hit in hits:
            norm = (hit["score"] - low) / span if span > 0 else 1.0
            combined[hit["doc_id"]] = combined.get(hit["doc_id"], 0.0) + weight * norm
            first.setdefault(hit["doc_id"], hit)
    order = sorted(combined, key=lambda d: -combined[d])
    return [{**first[d], "score": combined[d]} for d in order]


def fuse(
    keyword: Sequence[SearchHit],
    vector: Sequence[SearchHit],
    *,
    method: HybridMethod,
    rrf_k: int,
    vector_weight: float,
    top_k: int,
) -> list[SearchHit]:
    """Hybrid ranking of two result lists, cut to ``top_k``."""
    if method == "rrf":
        return reciprocal_rank_fusion([keyword, vector], k=rrf_k)[:top_k]
    return weighted_fusion(keyword, vector, vector_weight)[:top_k]
