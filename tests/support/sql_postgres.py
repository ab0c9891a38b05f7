"""PostgreSQL as the SQL-tool tests administer it: a plain asyncpg URL, statements run as the
administrator, and URLs of other login roles.

Importing this module skips the importing test module unless TEST_DATABASE_URL is a
postgresql:// URL, and fails it instead when REQUIRE_POSTGRES=1.
"""

from __future__ import annotations

import os
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg
import pytest

RAW_URL = os.environ.get("TEST_DATABASE_URL", "")
if not RAW_URL.startswith(("postgresql", "postgres:")):
    reason = "TEST_DATABASE_URL is not a postgresql:// URL; PostgreSQL tests of the SQL tool"
    if os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(f"{reason} cannot be skipped: REQUIRE_POSTGRES=1", pytrace=False)
    pytest.skip(f"{reason} are skipped", allow_module_level=True)

ADMIN_URL = RAW_URL.replace("postgresql+asyncpg://", "postgresql://", 1)


def with_user(url: str, user: str, password: str) -> str:
    """`url` logging in as `user`."""
    parts = urlsplit(url)
    host = parts.netloc.rpartition("@")[2]
    return urlunsplit(parts._replace(netloc=f"{quote(user)}:{quote(password)}@{host}"))


async def admin(*statements: str) -> None:
    """Run statements as the administrator."""
    connection = await asyncpg.connect(ADMIN_URL)
    try:
        for statement in statements:
            await connection.execute(statement)
    finally:
        await connection.close()
