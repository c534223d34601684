"""BM25Retriever: ranking, filters, get, vector and hybrid search, errors."""

from __future__ import annotations

import itertools

import pytest

from rlm_core import ConfigError
from rlm_core.retrieval import (
    BM25Retriever,
    DocumentNotFoundError,
    EmbeddingError,
    RetrieverProtocol,
)

from .toy import DOCS, toy_embed


@pytest.fixture(params=["bm25s", "rank_bm25"])
def retriever(request: pytest.FixtureRequest) -> BM25Retriever:
    return BM25Retriever(DOCS, embedding_fn=toy_embed, backend=request.param)


def test_satisfies_the_protocol(retriever: BM25Retriever) -> None:
    assert isinstance(retriever, RetrieverProtocol)


def test_keyword_ranking(retriever: BM25Retriever) -> None:
    hits = retriever.search("cats pets puppy")
    assert [h["doc_id"] for h in hits] == ["d4"]  # only d4 holds these exact words
    hits = retriever.search("the telescope orbit")
    assert hits[0]["doc_id"] == "d2"
    assert set(hits[0]) == {"doc_id", "preview", "score", "metadata"}
    assert hits[0]["score"] > 0 and hits[0]["metadata"]["year"] == 2021
    assert all(a["score"] >= b["score"] for a, b in itertools.pairwise(hits))


def test_no_shared_term_means_no_hit(retriever: BM25Retriever) -> None:
    assert retriever.search("xylophone zebra") == []


def test_backends_agree() -> None:
    a = BM25Retriever(DOCS, backend="bm25s").search("the cat cats", top_k=5)
    b = BM25Retriever(DOCS, backend="rank_bm25").search("the cat cats", top_k=5)
    assert [h["doc_id"] for h in a] == [h["doc_id"] for h in b]
    assert [round(h["score"], 6) for h in a] == [round(h["score"], 6) for h in b]


def test_top_k_and_plain_string_documents() -> None:
    r = BM25Retriever(["alpha beta", "beta gamma", "beta delta", "epsilon"])
    assert [h["doc_id"] for h in r.search("beta", top_k=2)] == ["0", "1"]
    assert len(r.search("beta", top_k=10)) == 3


def test_filters_exact_and_any_of(retriever: BM25Retriever) -> None:
    query = "the cat rocket bread stars"
    assert {h["doc_id"] for h in retriever.search(query, filters={"lang": "en"})} == {"d1", "d2"}
    got = retriever.search(query, filters={"lang": ["fr", "de"]})
    assert {h["doc_id"] for h in got} == {"d3", "d5"}
    got = retriever.search("cats pets stars", filters={"tags": "pets"})  # list-valued field
    assert {h["doc_id"] for h in got} == {"d4"}
    assert retriever.search(query, filters={"lang": "en", "year": 2021})[0]["doc_id"] == "d2"
    assert retriever.search(query, filters={"missing_key": 1}) == []


def test_get_and_missing_doc(retriever: BM25Retriever) -> None:
    doc = retriever.get("d3")
    assert doc == {"doc_id": "d3", "content": DOCS[2]["content"], "metadata": DOCS[2]["metadata"]}
    with pytest.raises(DocumentNotFoundError, match="doc_id='nope'") as info:
        retriever.get("nope")
    assert isinstance(info.value, KeyError)


def test_preview_length() -> None:
    r = BM25Retriever(["word " * 100], preview_chars=30)
    preview = r.search("word")[0]["preview"]
    assert preview.endswith(" ...") and len(preview) <= 34


def test_vector_search_finds_semantic_match(retriever: BM25Retriever) -> None:
    assert retriever.search("feline kitten") == []  # no shared vocabulary
    hits = retriever.vector_search("feline kitten", top_k=2)
    assert {h["doc_id"] for h in hits} == {"d1", "d4"}
    assert hits[0]["score"] == pytest.approx(1.0, abs=0.01)
    hits = retriever.vector_search("galaxy", top_k=5, filters={"lang": "de"})
    assert [h["doc_id"] for h in hits] == ["d5"]


def test_hybrid_rrf_combines_both_lists(retriever: BM25Retriever) -> None:
    hits = retriever.hybrid_search("kitchen feline", top_k=3)
    # d1 is first in both lists (the only doc with "kitchen", and an animal doc)
    assert hits[0]["doc_id"] == "d1"
    assert hits[0]["score"] == pytest.approx(2 / 61)


def test_hybrid_weighted() -> None:
    r = BM25Retriever(DOCS, embedding_fn=toy_embed, hybrid_method="weighted", hybrid_weight=1.0)
    # weight 1.0 = vector only: the animal docs come first even without shared words
    assert {h["doc_id"] for h in r.hybrid_search("feline", top_k=2)} == {"d1", "d4"}


def test_vector_search_without_embedding_fn_says_what_to_do() -> None:
    r = BM25Retriever(DOCS)
    with pytest.raises(EmbeddingError, match="embedding_fn="):
        r.vector_search("cat")
    with pytest.raises(EmbeddingError):
        r.hybrid_search("cat")


def test_bad_embedding_fn_output() -> None:
    r = BM25Retriever(DOCS, embedding_fn=lambda texts: [[1.0, 2.0]])
    with pytest.raises(EmbeddingError, match="one vector per input"):
        r.vector_search("cat")
    broken = BM25Retriever(DOCS, embedding_fn=lambda texts: 1 / 0)
    with pytest.raises(EmbeddingError, match="ZeroDivisionError"):
        broken.vector_search("cat")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"documents": "just a string"}, "list of str"),
        ({"documents": [{"text": "x"}]}, "'content'"),
        (
            {"documents": [{"doc_id": "a", "content": "x"}, {"doc_id": "a", "content": "y"}]},
            "duplicate doc_id",
        ),
        ({"documents": ["x"], "backend": "lucene"}, "backend must be one of"),
        ({"documents": ["x"], "hybrid_method": "max"}, "hybrid_method"),
        ({"documents": ["x"], "preview_chars": 0}, "preview_chars"),
    ],
)
def test_config_errors(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        BM25Retriever(**kwargs)  # type: ignore[arg-type]


def test_query_errors(retriever: BM25Retriever) -> None:
    with pytest.raises(ConfigError, match="query"):
        retriever.search("  ")
    with pytest.raises(ConfigError, match="top_k"):
        retriever.search("cat", top_k=0)
    with pytest.raises(ConfigError, match="filters"):
        retriever.search("cat", filters=["lang"])  # type: ignore[arg-type]


@pytest.mark.parametrize("backend", ["bm25s", "rank_bm25"])
@pytest.mark.parametrize(
    ("documents", "message"),
    [
        ([], "needs at least one document"),
        (["", ""], "none of the 2 documents has a word to index"),
        (["!!!", "???"], "none of the 2 documents has a word to index"),
    ],
)
def test_a_corpus_without_words_is_a_config_error(
    backend: str, documents: list[str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message):
        BM25Retriever(documents, backend=backend)


def test_documents_without_words_among_others_are_indexed_and_never_hit() -> None:
    documents = ["", "alpha beta", "!!!", "beta gamma"]
    a = BM25Retriever(documents, backend="bm25s")
    b = BM25Retriever(documents, backend="rank_bm25")
    for query in ("beta", "alpha gamma", "!!!"):
        hits_a, hits_b = a.search(query), b.search(query)
        assert [h["doc_id"] for h in hits_a] == [h["doc_id"] for h in hits_b]
        assert [round(h["score"], 6) for h in hits_a] == [round(h["score"], 6) for h in hits_b]
    assert [h["doc_id"] for h in a.search("beta")] == ["1", "3"]
    assert a.search("!!!") == [] and len(a) == 4
