"""Embeddings from an OpenAI-compatible ``/embeddings`` endpoint (httpx, sync and async)."""

from __future__ import annotations

from typing import Any

import httpx

from rlm_core.retrieval.base import check_embeddings
from rlm_core.retrieval.errors import EmbeddingError


class OpenAIEmbeddings:
    """``POST {base_url}/embeddings`` with ``{"model", "input"}``; call it with a list of texts.

    Usable as ``embedding_fn`` (sync) and via ``aembed`` (async)."""

    def __init__(
        self,
        model: str,
        base_url: str = "https://api.openai.com/v1",
        api_key: str | None = None,
        timeout: float = 30.0,
        batch_size: int = 256,
    ) -> None:
        if not isinstance(model, str) or not model:
            raise EmbeddingError("embedding_model must be a non-empty model name")
        self.model = model
        self.url = base_url.rstrip("/") + "/embeddings"
        self.headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        self.timeout = timeout
        self.batch_size = batch_size

    def __call__(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        with httpx.Client(timeout=self.timeout, headers=self.headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                vectors.extend(self._parse(self._send(client.post, batch), len(batch)))
        return vectors

    async def aembed(self, texts: list[str]) -> list[list[float]]:
        vectors: list[list[float]] = []
        async with httpx.AsyncClient(timeout=self.timeout, headers=self.headers) as client:
            for start in range(0, len(texts), self.batch_size):
                batch = texts[start : start + self.batch_size]
                try:
                    response = await client.post(
                        self.url, json={"model": self.model, "input": batch}
                    )
                except httpx.HTTPError as error:
                    raise self._unreachable(error) from error
                vectors.extend(self._parse(response, len(batch)))
        return vectors

    def _send(self, post: Any, batch: list[str]) -> httpx.Response:
        try:
            response: httpx.Response = post(self.url, json={"model": self.model, "input": batch})
        except httpx.HTTPError as error:
            raise self._unreachable(error) from error
        return response

    def _unreachable(self, error: Exception) -> EmbeddingError:
        return EmbeddingError(
            f"cannot reach the embeddings endpoint {self.url}: {error}; check embedding_base_url"
        )

    def _parse(self, response: httpx.Response, expected: int) -> list[list[float]]:
        if response.status_code in (401, 403):
            raise EmbeddingError(
                f"embeddings endpoint {self.url} refused the credentials "
                f"(HTTP {response.status_code}); check embedding_api_key"
            )
        if response.status_code != 200:
            raise EmbeddingError(
                f"embeddings endpoint {self.url} answered HTTP {response.status_code} for model "
                f"{self.model!r}: {response.text[:200]}"
            )
        try:
            data = sorted(response.json()["data"], key=lambda item: item.get("index", 0))
            vectors = [item["embedding"] for item in data]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise EmbeddingError(
                f"embeddings endpoint {self.url} did not return {{'data': [{{'embedding': "
                f"[...]}}]}}: {response.text[:200]}"
            ) from None
        return check_embeddings(vectors, expected)
