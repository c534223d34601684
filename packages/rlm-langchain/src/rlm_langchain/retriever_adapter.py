"""``LangChainRetrieverAdapter``: any LangChain retriever as the RLM's document index."""

from __future__ import annotations

import asyncio
import hashlib
import json

from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig

from rlm_core.retrieval import FoundDocument, SingleSearchRetriever

_ID_KEYS = ("doc_id", "id")
_SCORE_KEYS = ("score", "relevance_score", "_score")


def doc_id_of(document: Document) -> str:
    """A document's id: ``Document.id``, else metadata ``doc_id``/``id``, else a content hash."""
    if document.id:
        return str(document.id)
    for key in _ID_KEYS:
        value = document.metadata.get(key)
        if value not in (None, ""):
            return str(value)
    meta = json.dumps(document.metadata, sort_keys=True, default=str)
    digest = hashlib.sha1(f"{document.page_content}\x00{meta}".encode(), usedforsecurity=False)
    return digest.hexdigest()[:16]


def _score(document: Document, rank: int) -> float:
    for key in _SCORE_KEYS:
        value = document.metadata.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    return 1.0 / (rank + 1)


def sized(retriever: BaseRetriever, limit: int) -> BaseRetriever:
    """A copy of ``retriever`` that returns up to ``limit`` documents, when it declares how:
    an int ``k`` field (BM25Retriever, TFIDFRetriever, ...) or a ``search_kwargs`` dict
    (``VectorStore.as_retriever()``). Other retrievers are returned as they are."""
    fields = type(retriever).model_fields
    if "k" in fields and isinstance(getattr(retriever, "k", None), int):
        return retriever.model_copy(update={"k": limit})
    search_kwargs = getattr(retriever, "search_kwargs", None)
    if "search_kwargs" in fields and isinstance(search_kwargs, dict):
        return retriever.model_copy(update={"search_kwargs": {**search_kwargs, "k": limit}})
    return retriever


class LangChainRetrieverAdapter(SingleSearchRetriever[Document]):
    """Serves the REPL's ``es_search`` / ``es_get`` from a LangChain ``BaseRetriever``.

    A LangChain retriever has one kind of search, so ``vector_search`` and
    ``hybrid_search`` use it too. Each search asks the retriever for the number of
    hits the REPL wants (``filter_overfetch`` times more when ``filters`` are given,
    which are applied before the ``top_k`` cut) by setting its declared ``k`` field
    or ``search_kwargs["k"]`` on a copy; a retriever that declares neither returns
    what it returns. Filters follow ``rlm_core.retrieval.matches_filters``.

    Every document a search returns is kept (up to ``cache_size``), so ``get(doc_id)``
    can return it in full and ``documents`` lists what the run consulted. Inside an
    async run (``ainvoke``, ``astream``, ``astream_events``) the retriever's async
    API is used, so async-only retrievers work.
    """

    def __init__(
        self,
        retriever: BaseRetriever,
        *,
        config: RunnableConfig | None = None,
        preview_chars: int = 300,
        filter_overfetch: int = 4,
        loop: asyncio.AbstractEventLoop | None = None,
    ) -> None:
        if not isinstance(retriever, BaseRetriever):
            raise TypeError(
                f"retriever must be a LangChain BaseRetriever, got {type(retriever).__name__}; "
                "wrap a vector store with vector_store.as_retriever()"
            )
        super().__init__(preview_chars=preview_chars, filter_overfetch=filter_overfetch)
        self.retriever = retriever
        self.config = config
        self.loop = loop

    def with_config(
        self, config: RunnableConfig | None, *, loop: asyncio.AbstractEventLoop | None = None
    ) -> LangChainRetrieverAdapter:
        """A fresh adapter (empty document store) whose searches run under ``config``;
        with ``loop`` (the event loop of an async run), searches made from other threads
        call the retriever's ``ainvoke`` on that loop."""
        return LangChainRetrieverAdapter(
            self.retriever,
            config=config,
            preview_chars=self.preview_chars,
            filter_overfetch=self.filter_overfetch,
            loop=loop,
        )

    @property
    def documents(self) -> list[Document]:
        """Every document returned by a search so far, in the order first seen."""
        return [found.source for found in self.cached]

    def fetch(self, query: str, limit: int) -> list[FoundDocument[Document]]:
        retriever = sized(self.retriever, limit)
        loop = self.loop
        if loop is not None and loop.is_running() and not _runs_here(loop):
            coroutine = retriever.ainvoke(query, config=self.config)
            found = asyncio.run_coroutine_threadsafe(coroutine, loop).result()
        else:
            found = retriever.invoke(query, config=self.config)
        return [_found(document, rank) for rank, document in enumerate(found)]

    def __repr__(self) -> str:
        return f"LangChainRetrieverAdapter({type(self.retriever).__name__})"


def _runs_here(loop: asyncio.AbstractEventLoop) -> bool:
    """Whether ``loop`` runs in this thread (then blocking on it would deadlock)."""
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:
        return False


def _found(document: Document, rank: int) -> FoundDocument[Document]:
    return FoundDocument(
        doc_id=doc_id_of(document),
        content=document.page_content,
        metadata=document.metadata,
        score=_score(document, rank),
        source=document,
    )
