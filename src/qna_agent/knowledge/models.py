"""Knowledge-base tables. Full-text indexes (FTS5 / tsvector) are created by the migration."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, Integer, LargeBinary, String, Text, Uuid
from sqlalchemy.orm import Mapped, deferred, mapped_column

from qna_agent.db.base import Base, UTCDateTime, utcnow
from qna_agent.db.ids import uuid7

SOURCE_DIRECTORY = "directory"
"""Documents found in KNOWLEDGE_DIR; a re-scan removes them when their file goes away."""
SOURCE_UPLOAD = "upload"
"""Documents uploaded through the API; their bytes are kept in `data` (durable, re-indexable)."""


class KbDocument(Base):
    """A source document, identified by its path relative to the knowledge directory."""

    __tablename__ = "kb_documents"

    id: Mapped[uuid.UUID] = mapped_column(Uuid, primary_key=True, default=uuid7)
    path: Mapped[str] = mapped_column(String(1024), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(String(500), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False, default=SOURCE_DIRECTORY)
    content_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    size_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    chunk_count: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    indexed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    # Embedder and chunking the chunks were made with; a change re-indexes the document.
    index_params: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    media_type: Mapped[str] = mapped_column(String(100), nullable=False, default="text/markdown")
    data: Mapped[bytes | None] = deferred(mapped_column(LargeBinary))


class KbChunk(Base):
    """A passage of a document with the heading path and lines it came from.

    Its embedding lives in an `embedding` column the ORM does not map (a BLOB of float32 on
    SQLite, a pgvector `vector` on PostgreSQL): knowledge/index/vectors_store.py writes it,
    knowledge/retrieval/ searches it.
    For PDF documents `start_line`/`end_line` are page numbers.
    """

    __tablename__ = "kb_chunks"
    __table_args__ = (Index("ix_kb_chunks_document_id", "document_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    document_id: Mapped[uuid.UUID] = mapped_column(
        Uuid, ForeignKey("kb_documents.id", ondelete="CASCADE"), nullable=False
    )
    ordinal: Mapped[int] = mapped_column(Integer, nullable=False)
    heading: Mapped[str] = mapped_column(String(1000), nullable=False, default="")
    content: Mapped[str] = mapped_column(Text, nullable=False)
    start_line: Mapped[int] = mapped_column(Integer, nullable=False)
    end_line: Mapped[int] = mapped_column(Integer, nullable=False)


class KbState(Base):
    """One row: the index's generation, bumped in the transaction of every index change.

    Every process compares it with the generation its caches were built for (service.py), so a
    change made by another worker, replica or the CLI is seen without any messaging.
    """

    __tablename__ = "kb_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    generation: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
