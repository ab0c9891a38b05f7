"""Public JSON shapes of the knowledge base: documents, passages, search results."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from qna_agent.api.schemas.common import Page
from qna_agent.api.schemas.examples import examples
from qna_agent.knowledge.models import KbChunk, KbDocument
from qna_agent.knowledge.retrieval.hits import SearchHit

_EXAMPLE_DOCUMENT_ID = "0193a5f1-2b3c-7d4e-8f90-a1b2c3d4e5f6"
_EXAMPLE_DOCUMENT: dict[str, Any] = {
    "id": _EXAMPLE_DOCUMENT_ID,
    "path": "refund-policy.md",
    "title": "Refund Policy",
    "source": "directory",
    "media_type": "text/markdown",
    "size_bytes": 2048,
    "chunk_count": 6,
    "content_hash": "9f2c1a7be4d35f0c8e6b2a1d4c7f9e0b3a5d8c2e1f4b7a0d3c6e9f2b5a8d1c4e",
    "indexed_at": "2026-11-24T10:15:00Z",
}
_EXAMPLE_PASSAGE: dict[str, Any] = {
    "chunk_id": 12,
    "document_id": _EXAMPLE_DOCUMENT_ID,
    "source": "refund-policy.md",
    "title": "Refund Policy",
    "heading": "Refund Policy > Return window",
    "start_line": 5,
    "end_line": 9,
}
_EXAMPLE_HIT: dict[str, Any] = {
    **_EXAMPLE_PASSAGE,
    "snippet": "You have 30 days from delivery to return an item…",
    "score": 0.0325,
    "lexical_score": 7.41,
    "vector_score": 0.83,
}


class DocumentOut(BaseModel):
    """A document of the knowledge base."""

    model_config = examples(_EXAMPLE_DOCUMENT)

    id: uuid.UUID
    path: str = Field(description="Relative to KNOWLEDGE_DIR, or `uploads/<name>`.")
    title: str
    source: Literal["directory", "upload"]
    media_type: str
    size_bytes: int
    chunk_count: int
    content_hash: str = Field(description="sha256 of the file; unchanged files are not re-indexed.")
    indexed_at: datetime

    @classmethod
    def of(cls, document: KbDocument) -> DocumentOut:
        """The public view of a document row."""
        return cls(
            id=document.id,
            path=document.path,
            title=document.title,
            source=document.source,
            media_type=document.media_type,
            size_bytes=document.size_bytes,
            chunk_count=document.chunk_count,
            content_hash=document.content_hash,
            indexed_at=document.indexed_at,
        )


class DocumentPage(Page[DocumentOut]):
    """A page of documents."""

    model_config = examples(
        {"data": [_EXAMPLE_DOCUMENT], "has_more": True, "next_cursor": _EXAMPLE_DOCUMENT_ID}
    )

    next_cursor: str | None  # published without a description: the schema stays as it was


class ChunkOut(BaseModel):
    """A passage (what a citation opens). For PDFs the line numbers are page numbers."""

    model_config = examples(
        {
            **_EXAMPLE_PASSAGE,
            "content": "You have 30 days from delivery to return an item in its original "
            "packaging.",
        }
    )

    chunk_id: int
    document_id: uuid.UUID
    source: str
    title: str
    heading: str
    content: str
    start_line: int
    end_line: int

    @classmethod
    def of(cls, chunk: KbChunk, document: KbDocument) -> ChunkOut:
        """The public view of a chunk row."""
        return cls(
            chunk_id=chunk.id,
            document_id=document.id,
            source=document.path,
            title=document.title,
            heading=chunk.heading,
            content=chunk.content,
            start_line=chunk.start_line,
            end_line=chunk.end_line,
        )


class SearchResultOut(BaseModel):
    """One passage found by a search."""

    model_config = examples(_EXAMPLE_HIT)

    chunk_id: int
    document_id: uuid.UUID
    source: str
    title: str
    heading: str
    snippet: str
    score: float = Field(description="Reciprocal-rank-fusion score.")
    lexical_score: float | None = Field(description="BM25 score, if lexically matched.")
    vector_score: float | None = Field(description="Cosine similarity, if densely matched.")
    start_line: int
    end_line: int

    @classmethod
    def of(cls, hit: SearchHit) -> SearchResultOut:
        """The public view of a search hit."""
        return cls(
            chunk_id=hit.chunk_id,
            document_id=uuid.UUID(hit.document_id),
            source=hit.path,
            title=hit.title,
            heading=hit.heading,
            snippet=hit.snippet,
            score=hit.score,
            lexical_score=hit.lexical_score,
            vector_score=hit.vector_score,
            start_line=hit.start_line,
            end_line=hit.end_line,
        )


class SearchOut(BaseModel):
    """Search results, best first."""

    model_config = examples({"query": "return window", "results": [_EXAMPLE_HIT]})

    query: str
    results: list[SearchResultOut]
