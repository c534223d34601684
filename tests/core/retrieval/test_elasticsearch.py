"""ElasticsearchRetriever / AsyncElasticsearchRetriever against a real noida-db server."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from rlm_core import ConfigError
from rlm_core.retrieval import (
    AsyncElasticsearchRetriever,
    AsyncRetrieverProtocol,
    AuthenticationError,
    DocumentNotFoundError,
    ElasticsearchRetriever,
    EmbeddingError,
    IndexNotFoundError,
    MappingError,
    RetrieverConnectionError,
    RetrieverError,
    RetrieverProtocol,
)

from .conftest import EmbeddingsHandler, free_port
from .toy import DOCS, toy_embed


@pytest.fixture(params=[None, "metadata"], ids=["flat", "nested"])
def es(
    es_url: str, index_name: str, request: pytest.FixtureRequest
) -> Iterator[ElasticsearchRetriever]:
    retriever = ElasticsearchRetriever(
        es_url, index_name, embedding_fn=toy_embed, metadata_field=request.param
    )
    retriever.create_index(recreate=True)
    assert retriever.bulk_index(DOCS) == len(DOCS)
    yield retriever
    retriever.delete_index()
    retriever.close()


def ids(hits: list[dict[str, object]]) -> list[object]:
    return [h["doc_id"] for h in hits]


def test_protocols(es: ElasticsearchRetriever, es_url: str) -> None:
    assert isinstance(es, RetrieverProtocol)
    assert isinstance(AsyncElasticsearchRetriever(es_url, "x"), AsyncRetrieverProtocol)


def test_create_index_mapping(es: ElasticsearchRetriever) -> None:
    mapping = es.client.indices.get_mapping(index=es.options.index).body
    props = mapping[es.options.index]["mappings"]["properties"]
    assert props["content"]["type"] == "text"
    assert props["embedding"]["type"] == "dense_vector"
    assert props["embedding"]["dims"] == 3  # probed from the embedder
    if es.options.metadata_field is None:  # flat: metadata fields beside the content
        assert props["lang"]["type"] == "keyword" and "metadata" not in props
    else:
        assert props["metadata"]["properties"]["lang"]["type"] == "keyword"
    assert es.count() == len(DOCS)


def test_match_search(es: ElasticsearchRetriever) -> None:
    hits = es.search("telescope orbit")
    assert ids(hits) == ["d2"]
    assert set(hits[0]) == {"doc_id", "preview", "score", "metadata"}
    assert hits[0]["metadata"] == {"lang": "en", "year": 2021, "tags": ["space"]}
    assert "embedding" not in hits[0]["preview"] and hits[0]["score"] > 0
    assert es.search("xylophone") == []


def test_filters(es: ElasticsearchRetriever) -> None:
    query = "the cat rocket bread stars"
    assert set(ids(es.search(query, filters={"lang": "en"}))) == {"d1", "d2"}
    assert set(ids(es.search(query, filters={"lang": ["fr", "de"]}))) == {"d3", "d5"}
    assert ids(es.search("cats pets stars", filters={"tags": "pets"})) == ["d4"]
    assert ids(es.search(query, filters={"lang": "en", "year": 2021})) == ["d2"]


def test_knn_search(es: ElasticsearchRetriever) -> None:
    hits = es.vector_search("feline kitten", top_k=2)
    assert set(ids(hits)) == {"d1", "d4"}
    assert ids(es.vector_search("galaxy", top_k=5, filters={"lang": "de"})) == ["d5"]


def test_hybrid_rrf(es: ElasticsearchRetriever) -> None:
    hits = es.hybrid_search("kitchen feline", top_k=3)
    assert hits[0]["doc_id"] == "d1"
    assert hits[0]["score"] == pytest.approx(2 / 61)


def test_get(es: ElasticsearchRetriever) -> None:
    assert es.get("d3") == {
        "doc_id": "d3",
        "content": DOCS[2]["content"],
        "metadata": DOCS[2]["metadata"],
    }
    with pytest.raises(DocumentNotFoundError, match="doc_id='zz'") as info:
        es.get("zz")
    assert isinstance(info.value, KeyError)


def test_openai_compatible_embeddings(es_url: str, index_name: str, embeddings_server: str) -> None:
    with ElasticsearchRetriever(
        es_url,
        index_name,
        embedding_model="toy-embed",
        embedding_base_url=embeddings_server,
        embedding_api_key="k-123",
    ) as es:
        es.create_index(recreate=True)
        es.bulk_index(DOCS)
        assert set(ids(es.vector_search("puppy", top_k=2))) == {"d1", "d4"}
        es.delete_index()
    first = EmbeddingsHandler.requests[0]
    assert first["body"] == {"model": "toy-embed", "input": ["dimension probe"]}
    assert first["auth"] == "Bearer k-123"


def test_unreachable_host() -> None:
    es = ElasticsearchRetriever(f"http://127.0.0.1:{free_port()}", "docs", request_timeout=2)
    with pytest.raises(RetrieverConnectionError, match="cannot reach Elasticsearch"):
        es.search("anything")


def test_missing_index(es_url: str) -> None:
    es = ElasticsearchRetriever(es_url, "no-such-index", embedding_fn=toy_embed)
    with pytest.raises(IndexNotFoundError, match="create_index"):
        es.search("cat")
    with pytest.raises(IndexNotFoundError):
        es.get("d1")
    with pytest.raises(IndexNotFoundError):
        es.vector_search("cat")


def test_wrong_mapping_for_vector_search(es_url: str, index_name: str) -> None:
    plain = ElasticsearchRetriever(es_url, index_name)
    plain.create_index(recreate=True)  # no embedder, no dims: no dense_vector field
    plain.bulk_index(DOCS)
    es = ElasticsearchRetriever(es_url, index_name, embedding_fn=toy_embed)
    assert ids(es.search("telescope")) == ["d2"]  # keyword search still works
    with pytest.raises(MappingError, match="no dense_vector field 'embedding'"):
        es.vector_search("cat")
    text_field = ElasticsearchRetriever(
        es_url, index_name, embedding_fn=toy_embed, vector_field="content"
    )
    with pytest.raises(MappingError, match="of type 'text'"):
        text_field.hybrid_search("cat")
    plain.delete_index()


def test_embedding_dims_mismatch(es: ElasticsearchRetriever, es_url: str) -> None:
    other = ElasticsearchRetriever(
        es_url, es.options.index, embedding_fn=lambda texts: [[1.0, 0.0] for _ in texts]
    )
    with pytest.raises(EmbeddingError, match="2-dim vectors"):
        other.vector_search("cat")


def test_vector_search_without_embedder(es: ElasticsearchRetriever, es_url: str) -> None:
    with pytest.raises(EmbeddingError, match="embedding_fn="):
        ElasticsearchRetriever(es_url, es.options.index).vector_search("cat")


def test_auth_failure(rejecting_cluster: str) -> None:
    es = ElasticsearchRetriever(rejecting_cluster, "docs", api_key="wrong")
    with pytest.raises(AuthenticationError, match="api_key="):
        es.search("cat")


def test_bulk_error_is_reported(es: ElasticsearchRetriever) -> None:
    one_dim = ElasticsearchRetriever(
        es.options.host, es.options.index, embedding_fn=lambda texts: [[1.0] for _ in texts]
    )
    with pytest.raises(RetrieverError, match="1 document\\(s\\) failed to index"):
        one_dim.bulk_index([{"doc_id": "bad", "content": "x"}])


def test_config_errors(es_url: str) -> None:
    with pytest.raises(ConfigError, match="index"):
        ElasticsearchRetriever(es_url, "")
    with pytest.raises(ConfigError, match="either embedding_fn or embedding_model"):
        ElasticsearchRetriever(es_url, "x", embedding_fn=toy_embed, embedding_model="m")
    with pytest.raises(ConfigError, match="hybrid_method"):
        ElasticsearchRetriever(es_url, "x", hybrid_method="sum")


async def test_async_twin(es_url: str, index_name: str) -> None:
    async def aembed(texts: list[str]) -> list[list[float]]:
        return toy_embed(texts)

    async with AsyncElasticsearchRetriever(es_url, index_name, embedding_fn=aembed) as es:
        await es.create_index(recreate=True)
        assert await es.bulk_index(DOCS) == len(DOCS)
        assert await es.count() == len(DOCS)
        assert ids(await es.search("telescope orbit")) == ["d2"]
        got = await es.search("the cat rocket bread stars", filters={"lang": ["fr", "de"]})
        assert set(ids(got)) == {"d3", "d5"}
        assert set(ids(await es.vector_search("feline kitten", top_k=2))) == {"d1", "d4"}
        assert (await es.hybrid_search("kitchen feline", top_k=3))[0]["doc_id"] == "d1"
        assert (await es.get("d2"))["metadata"]["year"] == 2021
        with pytest.raises(DocumentNotFoundError):
            await es.get("zz")
        await es.delete_index()
        with pytest.raises(IndexNotFoundError):
            await es.search("cat")


async def test_async_unreachable_and_auth(rejecting_cluster: str) -> None:
    async with AsyncElasticsearchRetriever(
        f"http://127.0.0.1:{free_port()}", "docs", request_timeout=2
    ) as es:
        with pytest.raises(RetrieverConnectionError):
            await es.search("cat")
    async with AsyncElasticsearchRetriever(rejecting_cluster, "docs") as es:
        with pytest.raises(AuthenticationError):
            await es.search("cat")
