"""The knowledge base's generation: a counter in the database that moves with every change.

`bump` runs first in the transaction that changes the index. Besides marking the change, on
PostgreSQL it takes the row lock of `kb_state`, so index writers of every process run one at
a time (they are rare and short: embedding happens before the transaction); on SQLite it makes
the transaction a writer from its first statement.
"""

from __future__ import annotations

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from qna_agent.knowledge.models import KbState

STATE_ROW = 1


async def bump(session: AsyncSession) -> None:
    """Mark the index changed (call inside the transaction that changes it)."""
    await session.execute(
        update(KbState).where(KbState.id == STATE_ROW).values(generation=KbState.generation + 1)
    )


async def current(session: AsyncSession) -> int:
    """The index's generation (0 before any change)."""
    value = await session.scalar(select(KbState.generation).where(KbState.id == STATE_ROW))
    return int(value or 0)
