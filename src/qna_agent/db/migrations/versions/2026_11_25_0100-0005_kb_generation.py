"""Knowledge base: a generation counter shared by every process.

Each change to the index (sync, upload, delete) bumps `kb_state.generation` in the same
transaction, so a server sees another process's change (another worker or replica, the
`qna-agent kb sync` Job) and drops its cached results and in-memory vectors.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    state = op.create_table(
        "kb_state",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kb_state")),
    )
    op.bulk_insert(state, [{"id": 1, "generation": 0}])


def downgrade() -> None:
    op.drop_table("kb_state")
