"""Alembic environment.

Run from code (`qna_agent.db.migrate`), a live connection arrives in `config.attributes`.
Run from the `alembic` command line (`alembic revision --autogenerate`), it connects with
the service's settings. Model modules are imported here so autogenerate sees every table: this
script is tooling, the one place under db/ allowed to import the layers above it.
"""

from __future__ import annotations

import asyncio

from alembic import context
from sqlalchemy.engine import Connection

from qna_agent.chat import models as _chat_models  # noqa: F401  (register tables)
from qna_agent.db.base import Base
from qna_agent.knowledge import models as _kb_models  # noqa: F401  (register tables)
from qna_agent.security import models as _security_models  # noqa: F401  (register tables)

target_metadata = Base.metadata


def _configure(connection: Connection) -> None:
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


async def _run_with_settings() -> None:
    from qna_agent.config import get_settings
    from qna_agent.db.engine import Database

    database = Database(get_settings())
    async with database.write_engine.begin() as conn:
        await conn.run_sync(_configure)
    await database.dispose()


def run() -> None:
    """Entry point Alembic calls."""
    if context.is_offline_mode():
        raise SystemExit("offline (--sql) migrations are not supported; run against a database")
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _configure(connection)
    else:
        asyncio.run(_run_with_settings())


run()
