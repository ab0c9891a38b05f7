"""Embedding chunks without blocking the event loop, and without repeating work.

Vectors are reused from the document's previous chunks when the text is unchanged, then from
a bounded in-process cache keyed by the text, and only the rest is sent to the embedder, in
bounded batches, in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from collections.abc import Mapping, Sequence

import numpy as np
import numpy.typing as npt

from qna_agent.knowledge.embeddings.embedder import Embedder
from qna_agent.knowledge.embeddings.vectors import FloatMatrix

INGEST_BATCH = 32


def passage_text(heading: str, content: str) -> str:
    """What is embedded for a chunk: its heading path gives the passage its context."""
    return f"{heading}\n{content}" if heading else content


# One LRU per embedder for the whole process: services rebuilt in the same process (tests,
# CLI commands) do not pay for the same passages twice.
_SHARED: dict[str, OrderedDict[bytes, npt.NDArray[np.float32]]] = {}


class EmbeddingCache:
    """An embedder with reuse and a bounded LRU of recent vectors."""

    def __init__(self, embedder: Embedder, *, max_entries: int = 4096) -> None:
        self.embedder = embedder
        self.max_entries = max_entries
        self._lru = _SHARED.setdefault(embedder.name, OrderedDict())

    @property
    def name(self) -> str:
        """The embedder's name (part of every document's index fingerprint)."""
        return self.embedder.name

    @property
    def dim(self) -> int:
        """Vector width."""
        return self.embedder.dim

    def _key(self, text: str) -> bytes:
        return hashlib.blake2b(text.encode(), digest_size=16).digest()

    def _remember(self, key: bytes, vector: npt.NDArray[np.float32]) -> None:
        self._lru[key] = vector
        self._lru.move_to_end(key)
        while len(self._lru) > self.max_entries:
            self._lru.popitem(last=False)

    async def embed_query(self, text: str) -> FloatMatrix:
        """One query vector, computed off the event loop."""
        return await asyncio.to_thread(self.embedder.embed, [text])

    async def embed_chunks(
        self,
        chunks: Sequence[tuple[str, str]],
        reusable: Mapping[tuple[str, str], npt.NDArray[np.float32]],
    ) -> FloatMatrix:
        """Vectors for (heading, content) pairs, reusing what is known."""
        out = np.empty((len(chunks), self.dim), dtype=np.float32)
        missing: list[int] = []
        for index, chunk in enumerate(chunks):
            known = reusable.get(chunk)
            if known is not None and known.shape[0] == self.dim:
                out[index] = known
                continue
            cached = self._lru.get(self._key(passage_text(*chunk)))
            if cached is not None:
                out[index] = cached
            else:
                missing.append(index)
        for start in range(0, len(missing), INGEST_BATCH):
            batch = missing[start : start + INGEST_BATCH]
            texts = [passage_text(*chunks[i]) for i in batch]
            vectors = await asyncio.to_thread(self.embedder.embed, texts)
            for i, text, vector in zip(batch, texts, vectors, strict=True):
                out[i] = vector
                self._remember(self._key(text), vector)
        return out
