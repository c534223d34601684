"""Retrieval errors: each names what to fix."""

from __future__ import annotations

from rlm_core.errors import RLMError


class RetrieverError(RLMError):
    """Base class of every retrieval failure."""


class DocumentNotFoundError(RetrieverError, KeyError):
    """``get(doc_id)`` was asked for a document the index does not hold."""

    def __init__(self, doc_id: str, where: str = "the index") -> None:
        super().__init__(
            f"no document with doc_id={doc_id!r} in {where}; use a doc_id returned by "
            "search / vector_search / hybrid_search"
        )
        self.doc_id = doc_id

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0])


class EmbeddingError(RetrieverError):
    """Embeddings are not configured, or the embedding function/endpoint failed."""


class RetrieverConnectionError(RetrieverError, ConnectionError):
    """The search server cannot be reached."""


class IndexNotFoundError(RetrieverError):
    """The configured index does not exist on the server."""


class MappingError(RetrieverError):
    """The index mapping does not support the requested search (e.g. no dense_vector field)."""


class AuthenticationError(RetrieverError):
    """The server rejected the credentials (401) or the permissions (403)."""
