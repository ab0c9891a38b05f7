"""Initial schema: chats, messages, knowledge-base documents and chunks with full-text search.

Revision ID: 0001
Revises:
Create Date: 2026-11-24 01:00:00
"""

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_TZ = sa.DateTime(timezone=True)


def _json() -> sa.types.TypeEngine[Any]:
    return sa.JSON().with_variant(postgresql.JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        "chats",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.String(200), nullable=False),
        sa.Column("title", sa.String(200), nullable=True),
        sa.Column("metadata", _json(), nullable=False),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_chats")),
    )
    op.create_index("ix_chats_owner_id_id", "chats", ["owner_id", "id"])

    op.create_table(
        "messages",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("chat_id", sa.Uuid(), nullable=False),
        sa.Column("parent_id", sa.Uuid(), nullable=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("citations", _json(), nullable=False),
        sa.Column("tool_calls", _json(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(200), nullable=True),
        sa.Column("latency_ms", sa.Integer(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["chats.id"],
            name=op.f("fk_messages_chat_id_chats"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index("ix_messages_chat_id_id", "messages", ["chat_id", "id"])
    op.create_index("ix_messages_status", "messages", ["status"])

    op.create_table(
        "kb_documents",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("path", sa.String(1024), nullable=False),
        sa.Column("title", sa.String(500), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("size_bytes", sa.Integer(), nullable=False),
        sa.Column("chunk_count", sa.Integer(), nullable=False),
        sa.Column("indexed_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_documents")),
        sa.UniqueConstraint("path", name=op.f("uq_kb_documents_path")),
    )
    op.create_table(
        "kb_chunks",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("document_id", sa.Uuid(), nullable=False),
        sa.Column("ordinal", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(1000), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("start_line", sa.Integer(), nullable=False),
        sa.Column("end_line", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["document_id"],
            ["kb_documents.id"],
            name=op.f("fk_kb_chunks_document_id_kb_documents"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_chunks")),
    )
    op.create_index("ix_kb_chunks_document_id", "kb_chunks", ["document_id"])

    if op.get_bind().dialect.name == "sqlite":
        _create_sqlite_fts()
    else:
        op.execute(
            "ALTER TABLE kb_chunks ADD COLUMN search_vector tsvector GENERATED ALWAYS AS ("
            "setweight(to_tsvector('english', coalesce(heading, '')), 'A') || "
            "setweight(to_tsvector('english', content), 'B')) STORED"
        )
        op.execute("CREATE INDEX ix_kb_chunks_search_vector ON kb_chunks USING gin (search_vector)")


def _create_sqlite_fts() -> None:
    # An external-content FTS5 table kept in step with kb_chunks by triggers.
    op.execute(
        "CREATE VIRTUAL TABLE kb_chunks_fts USING fts5("
        "heading, content, content='kb_chunks', content_rowid='id', "
        "tokenize='porter unicode61 remove_diacritics 2')"
    )
    op.execute(
        "CREATE TRIGGER kb_chunks_ai AFTER INSERT ON kb_chunks BEGIN "
        "INSERT INTO kb_chunks_fts(rowid, heading, content) "
        "VALUES (new.id, new.heading, new.content); END"
    )
    op.execute(
        "CREATE TRIGGER kb_chunks_ad AFTER DELETE ON kb_chunks BEGIN "
        "INSERT INTO kb_chunks_fts(kb_chunks_fts, rowid, heading, content) "
        "VALUES ('delete', old.id, old.heading, old.content); END"
    )
    op.execute(
        "CREATE TRIGGER kb_chunks_au AFTER UPDATE ON kb_chunks BEGIN "
        "INSERT INTO kb_chunks_fts(kb_chunks_fts, rowid, heading, content) "
        "VALUES ('delete', old.id, old.heading, old.content); "
        "INSERT INTO kb_chunks_fts(rowid, heading, content) "
        "VALUES (new.id, new.heading, new.content); END"
    )


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        for trigger in ("kb_chunks_ai", "kb_chunks_ad", "kb_chunks_au"):
            op.execute(f"DROP TRIGGER IF EXISTS {trigger}")
        op.execute("DROP TABLE IF EXISTS kb_chunks_fts")
    op.drop_table("kb_chunks")
    op.drop_table("kb_documents")
    op.drop_table("messages")
    op.drop_table("chats")
