"""Ranking metrics for evaluating retrieval and reranking."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence


def _dedupe(ranked_ids: Sequence[str], k: int) -> list[str]:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be an int >= 1, got {k!r}")
    seen: set[str] = set()
    out: list[str] = []
    for doc_id in ranked_ids:
        if doc_id not in seen:
            seen.add(doc_id)
            out.append(doc_id)
        if len(out) == k:
            break
    return out


def ndcg_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """nDCG@k with linear gain (as trec_eval): sum(rel_i / log2(i + 1)) over ranks
    i = 1..k, divided by the same sum for the ideal order. Repeated ids count once;
    0.0 when ``qrels`` has no relevant (> 0) document."""
    top = _dedupe(ranked_ids, k)
    dcg = sum(
        float(qrels.get(doc_id, 0)) / math.log2(rank + 1) for rank, doc_id in enumerate(top, 1)
    )
    ideal = sorted((float(v) for v in qrels.values() if v > 0), reverse=True)[:k]
    idcg = sum(rel / math.log2(rank + 1) for rank, rel in enumerate(ideal, 1))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(ranked_ids: Sequence[str], qrels: Mapping[str, float], k: int = 10) -> float:
    """Share of the relevant (> 0) documents found in the top k; 0.0 if none is relevant."""
    relevant = {doc_id for doc_id, rel in qrels.items() if rel > 0}
    if not relevant:
        return 0.0
    return len(relevant.intersection(_dedupe(ranked_ids, k))) / len(relevant)
