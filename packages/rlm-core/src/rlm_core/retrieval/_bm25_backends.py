"""BM25 scoring backends: bm25s (sparse matrices) and rank-bm25 (pure Python).

Both score with Lucene's BM25 (the Elasticsearch default): idf = ln(1 + (N - n + 0.5) /
(n + 0.5)), tf part = tf / (tf + k1 * (1 - b + b * dl / avgdl)), so they return the same scores;
see benchmarks/bench_retrieval.py for the speed comparison that picked bm25s.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Sequence
from typing import Any, Literal, Protocol

import numpy as np

from rlm_core.errors import ConfigError

Backend = Literal["bm25s", "rank_bm25"]
BACKENDS: tuple[str, ...] = ("bm25s", "rank_bm25")
DEFAULT_BACKEND: Backend = "bm25s"

_WORD = re.compile(r"\w+")


def simple_tokenize(text: str) -> list[str]:
    """Lower-cased runs of word characters."""
    return _WORD.findall(text.lower())


class Scorer(Protocol):
    def scores(self, tokens: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]: ...


class Bm25sScorer:
    """bm25s: precomputes a sparse doc x term score matrix; a query sums columns."""

    def __init__(self, corpus: Sequence[list[str]], k1: float, b: float) -> None:
        bm25s = _require("bm25s", "bm25s")
        self._model = bm25s.BM25(k1=k1, b=b, method="lucene", dtype="float64")
        self._model.index([list(doc) for doc in corpus], show_progress=False)
        self._size = len(corpus)

    def scores(self, tokens: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        ids = self._model.get_tokens_ids(tokens)
        if not ids:
            return np.zeros(self._size, dtype=np.float64)
        return np.asarray(self._model.get_scores_from_ids(ids), dtype=np.float64)


class RankBm25Scorer:
    """rank-bm25's BM25Okapi (a term-frequency dict per document) with Lucene's idf."""

    def __init__(self, corpus: Sequence[list[str]], k1: float, b: float) -> None:
        rank_bm25 = _require("rank_bm25", "rank-bm25")

        class LuceneOkapi(rank_bm25.BM25Okapi):  # type: ignore[misc, name-defined]
            def _calc_idf(self, nd: dict[str, int]) -> None:
                n = self.corpus_size
                self.idf = {w: math.log(1 + (n - f + 0.5) / (f + 0.5)) for w, f in nd.items()}

        self._model = LuceneOkapi([list(doc) for doc in corpus], k1=k1, b=b)
        self._scale = 1.0 / (k1 + 1.0)  # BM25Okapi multiplies by (k1 + 1); Lucene does not

    def scores(self, tokens: list[str]) -> np.ndarray[Any, np.dtype[np.float64]]:
        known = [t for t in tokens if t in self._model.idf]
        if not known:
            return np.zeros(self._model.corpus_size, dtype=np.float64)
        return np.asarray(self._model.get_scores(known), dtype=np.float64) * self._scale


def make_scorer(
    backend: str, corpus: Sequence[list[str]], k1: float, b: float
) -> Bm25sScorer | RankBm25Scorer:
    """Build the named backend over tokenized documents."""
    factories: dict[str, Callable[..., Bm25sScorer | RankBm25Scorer]] = {
        "bm25s": Bm25sScorer,
        "rank_bm25": RankBm25Scorer,
    }
    if backend not in factories:
        raise ConfigError(f"backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if not corpus:
        raise ConfigError("BM25Retriever needs at least one document, got none")
    if not any(corpus):
        raise ConfigError(
            f"none of the {len(corpus)} documents has a word to index (the tokenizer found no "
            "tokens: empty or punctuation-only text); give documents with text, or a tokenizer "
            "that finds their terms"
        )
    return factories[backend](corpus, k1, b)


def _require(module: str, dist: str) -> Any:
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError:
        raise ConfigError(f"BM25Retriever needs {dist}: pip install 'rlm-core[bm25]'") from None
