"""Retrieval benchmarks: BM25 backends, Elasticsearch (noida-db) throughput, and the
multi-query + listwise pipeline's nDCG@10 on a small synthetic labelled set.

Run: uv run python benchmarks/bench_retrieval.py [--quick] [--docs 100000] [--es-docs 10000]
Prints markdown tables and RATIO lines. Timings are from this one run on this machine.
"""

from __future__ import annotations

import json
import random
import re
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files
from pathlib import Path
from typing import Any

import httpx
from _common import Ratio, header, parser, report

from rlm_core import ListwiseReranker, QueryRewriter, ndcg_at_k, recall_at_k, union_pool
from rlm_core.adapters.base import Message, ModelResponse, Usage
from rlm_core.retrieval import BM25Retriever, ElasticsearchRetriever

SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "shi", "pe", "dra", "gu", "fen", "zo"]


def table(title: str, header: list[str], rows: list[list[Any]]) -> None:
    print(f"\n### {title}\n")
    print("| " + " | ".join(header) + " |")
    print("|" + "|".join("---:" if i else "---" for i in range(len(header))) + "|")
    for row in rows:
        print(
            "| " + " | ".join(f"{v:,.3f}" if isinstance(v, float) else str(v) for v in row) + " |"
        )


def make_corpus(n_docs: int, seed: int = 7) -> tuple[list[str], list[str]]:
    """Zipf-distributed pseudo-words; 20-60 words per document. Returns (docs, vocab)."""
    rng = random.Random(seed)
    vocab = sorted({"".join(rng.choices(SYLLABLES, k=rng.randint(2, 4))) for _ in range(40000)})
    rng.shuffle(vocab)
    weights = [1.0 / (rank + 1) for rank in range(len(vocab))]
    docs = []
    for _ in range(n_docs):
        docs.append(" ".join(rng.choices(vocab, weights=weights, k=rng.randint(20, 60))))
    return docs, vocab


# -- 1. BM25 backends ---------------------------------------------------------------------------
def bench_bm25(n_docs: int, n_queries: int = 100) -> list[Ratio]:
    docs, vocab = make_corpus(n_docs)
    rng = random.Random(1)
    queries = [" ".join(rng.sample(vocab[50:3000], 3)) for _ in range(n_queries)]
    results: dict[str, list[list[str]]] = {}
    rows: list[list[Any]] = []
    for backend in ("bm25s", "rank_bm25"):
        start = time.perf_counter()
        retriever = BM25Retriever(docs, backend=backend)
        build = time.perf_counter() - start
        start = time.perf_counter()
        results[backend] = [[h["doc_id"] for h in retriever.search(q, 10)] for q in queries]
        per_query = (time.perf_counter() - start) / n_queries
        rows.append([backend, build, per_query * 1000, 1 / per_query])
        del retriever
    same_sets = sum(
        set(a) == set(b) for a, b in zip(results["bm25s"], results["rank_bm25"], strict=True)
    )
    same_order = sum(a == b for a, b in zip(results["bm25s"], results["rank_bm25"], strict=True))
    ratio_build = rows[1][1] / rows[0][1]
    ratio_query = rows[1][2] / rows[0][2]
    table(
        f"BM25 on {n_docs:,} documents ({n_queries} three-word queries)",
        ["backend", "build s", "query ms", "queries/s"],
        rows,
    )
    print(
        f"\ntop-10 identical sets: {same_sets}/{n_queries}; identical order: "
        f"{same_order}/{n_queries}; rank_bm25/bm25s: build x{ratio_build:.1f}, "
        f"query x{ratio_query:.1f}"
    )
    return [
        Ratio("bm25_top10_same_sets_share", same_sets / n_queries, ">=", 1.0),
        Ratio("bm25_rank_bm25_over_bm25s_query_time", ratio_query, ">=", 1.0),
        Ratio("bm25_rank_bm25_over_bm25s_build_time", ratio_build),
    ]


# -- 2. Elasticsearch (noida-db) ----------------------------------------------------------------
def start_noida(data_dir: Path) -> tuple[subprocess.Popen[bytes], str]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    binary = Path(str(files("noida_db").joinpath("noida-db")))
    process = subprocess.Popen(
        [
            str(binary),
            "start",
            "--only",
            "elasticsearch",
            "--elasticsearch-port",
            str(port),
            "--host",
            "127.0.0.1",
            "--data-dir",
            str(data_dir),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=1).status_code == 200:
                return process, url
        except httpx.HTTPError:
            time.sleep(0.1)
    process.terminate()
    raise RuntimeError("noida-db did not start")


def hash_embed(texts: list[str], dims: int = 16) -> list[list[float]]:
    """A cheap deterministic embedding: hashed bag of words."""
    out = []
    for text in texts:
        vector = [0.0] * dims
        for word in text.split():
            vector[hash(word) % dims] += 1.0
        out.append(vector)
    return out


def timed(fn: Callable[[], object], n: int) -> tuple[float, float]:
    latencies = []
    for _ in range(n):
        start = time.perf_counter()
        fn()
        latencies.append(time.perf_counter() - start)
    return n / sum(latencies), statistics.median(latencies) * 1000


def bench_es(n_docs: int, quick: bool) -> list[Ratio]:
    docs, vocab = make_corpus(n_docs, seed=11)
    rng = random.Random(3)
    queries = [" ".join(rng.sample(vocab[50:3000], 3)) for _ in range(400)]
    with tempfile.TemporaryDirectory() as tmp:
        process, url = start_noida(Path(tmp))
        try:
            es = ElasticsearchRetriever(url, "bench", embedding_fn=hash_embed, request_timeout=60)
            es.create_index(recreate=True)
            start = time.perf_counter()
            indexed = es.bulk_index(docs, batch_size=1000)
            bulk_s = time.perf_counter() - start
            it = iter(queries)
            qps_by_name: dict[str, float] = {}
            rows = [
                [
                    "bulk index (with 16-dim vectors)",
                    f"{indexed / bulk_s:,.0f} docs/s",
                    f"{bulk_s:.2f} s total",
                ]
            ]
            for name, fn, n in [
                ("match (BM25)", lambda: es.search(next(it), 10), 30),
                ("match + term filter", lambda: es.search(next(it), 10, {"lang": "en"}), 15),
                ("knn", lambda: es.vector_search(next(it), 10), 50),
                ("hybrid (rrf, client-side)", lambda: es.hybrid_search(next(it), 10), 10),
            ]:
                qps, p50 = timed(fn, max(3, n // 5) if quick else n)
                qps_by_name[name] = qps
                rows.append([name, f"{qps:,.1f} queries/s", f"p50 {p50:.1f} ms"])
            table(
                f"Elasticsearch API (noida-db 0.2.3, {n_docs:,} documents, one client)",
                ["operation", "throughput", "latency / total"],
                rows,
            )
            es.delete_index()
            es.close()
            return [
                Ratio(
                    "es_knn_over_match_queries_per_s",
                    qps_by_name["knn"] / qps_by_name["match (BM25)"],
                )
            ]
        finally:
            process.terminate()
            process.wait(timeout=10)


# -- 3. Multi-query + listwise pipeline --------------------------------------------------------
CONCEPTS = {
    "heart attack": ["myocardial infarction", "coronary occlusion", "cardiac ischemia"],
    "car crash": ["vehicle collision", "traffic accident", "automobile wreck"],
    "stock market crash": ["equity selloff", "financial panic", "share price collapse"],
    "global warming": ["climate change", "greenhouse emissions", "rising temperatures"],
    "flu outbreak": ["influenza epidemic", "viral contagion", "seasonal pandemic"],
    "power outage": ["electrical blackout", "grid failure", "loss of electricity"],
    "data breach": ["security compromise", "leaked credentials", "unauthorized intrusion"],
    "house fire": ["residential blaze", "dwelling combustion", "home inferno"],
}
FILLER = [
    "report",
    "notes",
    "study",
    "people",
    "city",
    "year",
    "team",
    "data",
    "system",
    "time",
    "group",
    "case",
    "point",
    "analysis",
    "local",
    "record",
    "issue",
    "update",
    "review",
    "summary",
    "detail",
    "process",
]


class ScriptedPipelineModel:
    """A scripted model: rewrites from a synonym table; ranks passages by how many words of
    the query's concept (all phrasings but the last one) they contain."""

    model = "scripted-pipeline"

    def complete(
        self, messages: list[Message], *, max_tokens: int = 512, temperature: float = 0.0
    ) -> ModelResponse:
        user = messages[-1]["content"]
        query = re.search(r"Query: (.*)", user)
        concept = query.group(1).strip() if query else ""
        variants = CONCEPTS.get(concept, [])
        if "reformulat" in messages[0]["content"]:
            return ModelResponse(json.dumps({"rewrites": variants}), Usage(50, 30))
        known = {w for phrase in variants[:-1] for w in phrase.split()}
        surface = set(concept.split())

        def score(text: str) -> float:
            words = text.split()
            return sum(w in known for w in words) + 0.5 * sum(w in surface for w in words)

        passages = re.findall(r"^\[(\d+)\] (.*)$", user, re.MULTILINE)
        scored = sorted(passages, key=lambda p: -score(p[1]))
        return ModelResponse(" > ".join(f"[{n}]" for n, _ in scored), Usage(400, 40))


def labelled_set(seed: int = 5) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    rng = random.Random(seed)
    docs: list[dict[str, Any]] = []
    qrels: dict[str, dict[str, int]] = {}
    for concept, variants in CONCEPTS.items():
        qrels[concept] = {}
        for i in range(12):  # relevant: written with a synonym; a third also use a query word
            words = rng.choices(FILLER, k=25) + variants[i % 3].split() * 2
            if i % 3 == 0:
                words.append(rng.choice(concept.split()))
            rng.shuffle(words)
            doc_id = f"{concept[:4]}-{i}"
            docs.append({"doc_id": doc_id, "content": " ".join(words)})
            qrels[concept][doc_id] = 1
        for i in range(15):  # distractors: share the query's surface words, other topics
            words = rng.choices(FILLER, k=25) + [rng.choice(concept.split())] * 2
            rng.shuffle(words)
            docs.append({"doc_id": f"x-{concept[:4]}-{i}", "content": " ".join(words)})
    for i in range(1500):
        docs.append({"doc_id": f"bg-{i}", "content": " ".join(rng.choices(FILLER, k=20))})
    return docs, qrels


def bench_pipeline() -> list[Ratio]:
    docs, qrels = labelled_set()
    bm25 = BM25Retriever(docs)
    model = ScriptedPipelineModel()
    systems: dict[str, Callable[[str], list[str]]] = {}

    def ids(hits: Sequence[Mapping[str, Any]]) -> list[str]:
        return [h["doc_id"] for h in hits]

    rewriter = QueryRewriter(model, n=3)
    reranker = ListwiseReranker(model, window_size=20, step=10)
    systems["BM25"] = lambda q: ids(bm25.search(q, 10))
    systems["BM25 + ListwiseReranker"] = lambda q: ids(
        reranker.rerank(q, bm25.search(q, 25), top_k=10)
    )
    systems["QueryRewriter (3) + ListwiseReranker"] = lambda q: ids(
        reranker.rerank(q, union_pool([bm25.search(r, 25) for r in rewriter.rewrite(q)]), top_k=10)
    )
    systems["QueryRewriter (3 + original) + ListwiseReranker"] = lambda q: ids(
        reranker.rerank(
            q, union_pool([bm25.search(r, 25) for r in [*rewriter.rewrite(q), q]]), top_k=10
        )
    )
    rows: list[list[Any]] = []
    base = None
    scores: list[float] = []
    for name, system in systems.items():
        before = reranker.llm_calls + rewriter.llm_calls
        ndcgs, recalls = [], []
        for query, rel in qrels.items():
            ranked = system(query)
            ndcgs.append(ndcg_at_k(ranked, rel, 10))
            recalls.append(recall_at_k(ranked, rel, 10))
        ndcg = statistics.mean(ndcgs)
        scores.append(ndcg)
        base = ndcg if base is None else base
        calls = (reranker.llm_calls + rewriter.llm_calls - before) / len(qrels)
        versus = f"{ndcg / base:.1f}x" if base else "n/a"
        rows.append([name, ndcg, statistics.mean(recalls), versus, f"{calls:.1f}"])
    table(
        f"Multi-query pipeline on a synthetic oblique set ({len(qrels)} queries, "
        f"{len(docs):,} docs, scripted model)",
        ["system", "nDCG@10", "recall@10", "vs BM25", "model calls / query"],
        rows,
    )

    return [
        Ratio("pipeline_rerank_over_bm25_ndcg10", scores[1] / scores[0]),
        Ratio("pipeline_multiquery_over_bm25_ndcg10", scores[3] / scores[0], ">=", 1.0),
    ]


def main() -> int:
    options = parser(__doc__ or "")
    options.add_argument("--docs", type=int, default=None, help="BM25 corpus size")
    options.add_argument("--es-docs", type=int, default=None, help="Elasticsearch corpus size")
    args = options.parse_args()
    header("retrieval", args)
    docs = args.docs or (5_000 if args.quick else 100_000)
    es_docs = args.es_docs or (1_000 if args.quick else 10_000)
    ratios = bench_bm25(docs, 20 if args.quick else 100)
    ratios += bench_es(es_docs, args.quick)
    ratios += bench_pipeline()
    print()
    return report(ratios, args)


if __name__ == "__main__":
    raise SystemExit(main())
