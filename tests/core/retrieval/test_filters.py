"""Metadata filters: one meaning in Elasticsearch (both layouts), BM25 and in memory."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from rlm_core import ConfigError
from rlm_core.retrieval import (
    BM25Retriever,
    ElasticsearchRetriever,
    matches_filters,
    parse_filters,
)

from .toy import toy_embed

DOCS: list[dict[str, Any]] = [
    {
        "doc_id": "f1",
        "content": "alpha report on harbours",
        "metadata": {
            "lang": "en",
            "year": 2019,
            "tags": ["harbour", "port"],
            "author": "ana",
            "reviewed": True,
            "date": "2019-03-01",
        },
    },
    {
        "doc_id": "f2",
        "content": "alpha memo about ships",
        "metadata": {
            "lang": "en",
            "year": 2021,
            "tags": ["ship"],
            "reviewed": False,
            "date": "2021-06-15",
        },
    },
    {
        "doc_id": "f3",
        "content": "alpha note on rivers",
        "metadata": {
            "lang": "fr",
            "year": 2021,
            "tags": ["river", "port"],
            "author": "bruno",
            "date": "2022-01-10",
        },
    },
    {
        "doc_id": "f4",
        "content": "alpha letter about trains",
        "metadata": {"lang": "de", "year": 2023, "tags": [], "author": "carla", "reviewed": True},
    },
    {
        "doc_id": "f5",
        "content": "alpha summary",
        "metadata": {"lang": "es", "year": 2024, "author": None},
    },
]

CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"lang": "en"}, {"f1", "f2"}),
    ({"lang": ["fr", "de"]}, {"f3", "f4"}),
    ({"tags": "port"}, {"f1", "f3"}),  # list-valued metadata: any element
    ({"year": {"gte": 2021}}, {"f2", "f3", "f4", "f5"}),
    ({"year": {"gt": 2019, "lt": 2023}}, {"f2", "f3"}),
    ({"year": "2021"}, {"f2", "f3"}),  # a numeric string is the same term
    ({"lang": {"prefix": "e"}}, {"f1", "f2", "f5"}),
    ({"tags": {"prefix": "ri"}}, {"f3"}),
    ({"lang": {"not": "en"}}, {"f3", "f4", "f5"}),
    ({"tags": {"not": ["port", "ship"]}}, {"f4", "f5"}),  # missing / empty fields too
    ({"author": {"exists": True}}, {"f1", "f3", "f4"}),
    ({"author": {"exists": False}}, {"f2", "f5"}),  # missing or null
    ({"tags": {"exists": False}}, {"f4", "f5"}),  # empty list or missing
    ({"reviewed": True}, {"f1", "f4"}),
    ({"reviewed": {"not": True}}, {"f2", "f3", "f5"}),
    ({"date": {"gte": "2021-01-01", "lt": "2022-01-01"}}, {"f2"}),
    ({"lang": "en", "year": {"gte": 2020}}, {"f2"}),
    ({"lang": {"not": {"prefix": "e"}}}, {"f3", "f4"}),
    ({"author": {"not": {"exists": True}}}, {"f2", "f5"}),
]
CASE_IDS = [str(filters) for filters, _ in CASES]


def ids(hits: list[Any]) -> set[str]:
    return {hit["doc_id"] for hit in hits}


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=CASE_IDS)
def test_in_memory_and_bm25(filters: dict[str, Any], expected: set[str]) -> None:
    assert {d["doc_id"] for d in DOCS if matches_filters(d["metadata"], filters)} == expected
    bm25 = BM25Retriever(DOCS, embedding_fn=toy_embed)
    assert ids(bm25.search("alpha", top_k=10, filters=filters)) == expected
    assert ids(bm25.vector_search("alpha", top_k=10, filters=filters)) == expected


@pytest.fixture(scope="module", params=[None, "metadata"], ids=["flat", "nested"])
def es(es_url: str, request: pytest.FixtureRequest) -> Iterator[ElasticsearchRetriever]:
    index = f"filters-{request.param or 'flat'}"
    retriever = ElasticsearchRetriever(
        es_url, index, embedding_fn=toy_embed, metadata_field=request.param
    )
    retriever.create_index(recreate=True)
    retriever.bulk_index(DOCS)
    yield retriever
    retriever.delete_index()
    retriever.close()


@pytest.mark.parametrize(("filters", "expected"), CASES, ids=CASE_IDS)
def test_elasticsearch(
    es: ElasticsearchRetriever, filters: dict[str, Any], expected: set[str]
) -> None:
    assert ids(es.search("alpha", top_k=10, filters=filters)) == expected
    assert ids(es.vector_search("alpha", top_k=10, filters=filters)) == expected


def test_layouts_store_metadata_where_they_say(es: ElasticsearchRetriever) -> None:
    source = es.client.get(index=es.options.index, id="f3")["_source"]
    if es.options.metadata_field is None:
        assert source["lang"] == "fr" and "metadata" not in source
    else:
        assert source["metadata"]["lang"] == "fr" and "lang" not in source
    assert es.get("f3")["metadata"] == DOCS[2]["metadata"]
    assert es.search("rivers")[0]["metadata"] == DOCS[2]["metadata"]


def test_reads_an_index_written_in_the_flat_layout(es_url: str) -> None:
    """Documents indexed by other tools (pyrlm-runtime's layout): flat _source fields."""
    es = ElasticsearchRetriever(es_url, "flat-foreign")
    es.delete_index()
    es.client.index(
        index="flat-foreign",
        id="x1",
        document={"content": "quarterly report", "department": "legal", "pages": 12},
        refresh=True,
    )
    hits = es.search("report", filters={"pages": {"gt": 10}})
    assert hits[0]["metadata"] == {"department": "legal", "pages": 12}
    assert es.get("x1")["metadata"] == {"department": "legal", "pages": 12}
    es.delete_index()


def test_flat_layout_refuses_metadata_that_shadows_the_content(es_url: str) -> None:
    es = ElasticsearchRetriever(es_url, "flat-clash")
    with pytest.raises(ConfigError, match="metadata field 'content'"):
        es.bulk_index([{"doc_id": "a", "content": "x", "metadata": {"content": "y"}}])
    with pytest.raises(ConfigError, match="metadata_field 'content'"):
        ElasticsearchRetriever(es_url, "x", metadata_field="content")


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ({"year": {"gte": 2020, "gt": 2019}}, "filter 'year' sets both 'gt' and 'gte'"),
        ({"year": {"between": [1, 2]}}, "filter 'year' has unknown operator\\(s\\) 'between'"),
        ({"year": {}}, "filter 'year' has an empty dict"),
        ({"lang": {"prefix": "e", "not": "en"}}, "filter 'lang' combines not, prefix"),
        ({"lang": {"not": {"not": "en"}}}, "filter 'lang' nests 'not' inside 'not'"),
        ({"lang": {"exists": "yes"}}, "filter 'lang': 'exists' takes True or False"),
        ({"lang": {"prefix": ""}}, "filter 'lang': 'prefix' takes a non-empty string"),
        ({"lang": []}, "filter 'lang' is an empty list"),
        ({"lang": None}, "filter 'lang' is None; .*'exists': False"),
        ({"lang": [["en"]]}, "filter 'lang': list value"),
        ({"year": {"gte": [2020]}}, "filter 'year': range bound gte=\\[2020\\]"),
        ({"year": {"lt": True}}, "filter 'year': range bound lt=True"),
        ({"": "x"}, "filter keys must be non-empty"),
        (["lang"], "filters must be a dict"),
    ],
)
def test_bad_filters_name_the_filter(filters: Any, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_filters(filters)
    with pytest.raises(ConfigError, match=message):
        BM25Retriever(DOCS).search("alpha", filters=filters)


def test_bad_filters_fail_before_any_request(es_url: str) -> None:
    es = ElasticsearchRetriever(es_url, "never-created")
    with pytest.raises(ConfigError, match="filter 'year' sets both"):
        es.search("alpha", filters={"year": {"gte": 1, "gt": 0}})


def test_dotted_and_keyword_fields_in_memory() -> None:
    metadata = {"author": {"name": "ana"}, "lang": "en"}
    assert matches_filters(metadata, {"author.name": "ana"})
    assert matches_filters(metadata, {"lang.keyword": "en"})
    assert not matches_filters(metadata, {"author.name": {"not": "ana"}})
