"""Sentence embeddings from an OpenAI-compatible `/embeddings` endpoint.

A plain synchronous httpx call rather than the `openai` SDK: the wire format
is one POST, httpx is already a dependency of the SDK, and this way the
timeout is the only latency there is (the SDK retries twice by default, which
would hide an outage behind seconds of backoff on the search path).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import numpy as np

from qna_agent.knowledge.embeddings.embedder import EmbeddingServiceError
from qna_agent.knowledge.embeddings.vectors import FloatMatrix, l2_normalise

__all__ = ["EmbeddingServiceError", "OpenAIEmbedder"]


class OpenAIEmbedder:
    """Embeds texts through `{base_url}/embeddings` (base_url ends in `/v1`, as for the SDK).

    `dim` may be configured; otherwise the first call that needs it asks the
    endpoint once and remembers the width of the vector it returned.
    """

    def __init__(
        self,
        *,
        base_url: str,
        api_key: str,
        model: str,
        dim: int | None = None,
        timeout_s: float = 10.0,
        batch_size: int = 64,
        send_dimensions: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        self.name = f"openai:{model}"
        self._model = model
        self._dim = dim
        self._batch_size = batch_size
        # text-embedding-3-* can shorten vectors server-side; other servers may reject the field.
        self._send_dimensions = send_dimensions and dim is not None
        self._client = httpx.Client(
            base_url=base_url.rstrip("/") + "/",
            headers={"Authorization": f"Bearer {api_key}"},
            timeout=timeout_s,
        )

    @property
    def dim(self) -> int:
        """Width of the vectors; asks the endpoint once if it was not configured."""
        if self._dim is None:
            self._dim = int(self._request(["dimension probe"]).shape[1])
        return self._dim

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """Embed texts as L2-normalised float32 rows, shape (len(texts), dim)."""
        if isinstance(texts, str):
            raise TypeError("embed takes a sequence of texts, not one string")
        if not texts:
            return np.empty((0, self.dim), dtype=np.float32)
        batches = [
            self._request(list(texts[start : start + self._batch_size]))
            for start in range(0, len(texts), self._batch_size)
        ]
        vectors = np.concatenate(batches)
        if self._dim is None:
            self._dim = int(vectors.shape[1])
        if vectors.shape[1] != self._dim:
            raise EmbeddingServiceError(
                f"{self.name} returned {vectors.shape[1]}-wide vectors, expected {self._dim}"
            )
        return vectors

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._client.close()

    def _request(self, texts: list[str]) -> FloatMatrix:
        body: dict[str, Any] = {"model": self._model, "input": texts, "encoding_format": "float"}
        if self._send_dimensions:
            body["dimensions"] = self._dim
        try:
            response = self._client.post("embeddings", json=body)
        except httpx.HTTPError as exc:
            raise EmbeddingServiceError(f"{self.name} request failed: {exc!r}") from exc
        if response.status_code != httpx.codes.OK:
            raise EmbeddingServiceError(
                f"{self.name} answered HTTP {response.status_code}: {response.text[:200]}"
            )
        return _parse_embeddings(response, expected=len(texts), name=self.name)


def _parse_embeddings(response: httpx.Response, *, expected: int, name: str) -> FloatMatrix:
    try:
        items = sorted(response.json()["data"], key=lambda item: item["index"])
        vectors = np.array([item["embedding"] for item in items], dtype=np.float32)
    except (ValueError, KeyError, TypeError) as exc:
        raise EmbeddingServiceError(f"{name} sent a malformed embeddings body") from exc
    if vectors.ndim != 2 or vectors.shape[0] != expected:
        raise EmbeddingServiceError(f"{name} returned {len(vectors)} vectors for {expected} texts")
    return l2_normalise(vectors)
