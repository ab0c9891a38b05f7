"""Knowledge base: chunk embeddings, index parameters, uploaded documents.

On PostgreSQL this needs the pgvector extension (`CREATE EXTENSION vector`); the HNSW index
is created by the service for the configured embedder's dimension.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-24 02:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column(
        "kb_documents",
        sa.Column("index_params", sa.String(200), nullable=False, server_default=""),
    )
    op.add_column(
        "kb_documents",
        sa.Column("media_type", sa.String(100), nullable=False, server_default="text/markdown"),
    )
    op.add_column("kb_documents", sa.Column("data", sa.LargeBinary(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        # In `public`, so a schema dropped with CASCADE never takes the extension with it.
        op.execute("CREATE EXTENSION IF NOT EXISTS vector SCHEMA public")
        op.execute("ALTER TABLE kb_chunks ADD COLUMN embedding vector")
    else:
        op.add_column("kb_chunks", sa.Column("embedding", sa.LargeBinary(), nullable=True))


def downgrade() -> None:
    op.drop_column("kb_chunks", "embedding")
    op.drop_column("kb_documents", "data")
    op.drop_column("kb_documents", "media_type")
    op.drop_column("kb_documents", "index_params")
