"""The SQL tool refuses a PostgreSQL role that can do more than SELECT, naming what it can do.

Each test makes a scratch schema with one table and a login role that may read it, adds one
privilege, and drops them all afterwards. Skipped without a PostgreSQL TEST_DATABASE_URL;
fails instead when REQUIRE_POSTGRES=1 (see test_sql_tool_postgres).
"""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
import pytest_asyncio

from qna_agent.agent.tools.sql.results import SqlToolError
from qna_agent.agent.tools.sql.toolbox import SqlToolbox
from tests.support.sql_postgres import ADMIN_URL, admin, with_user

pytestmark = pytest.mark.postgres


@dataclass(frozen=True, slots=True)
class Scratch:
    """A schema with table `items`, a role that may read it, and its URL."""

    schema: str
    role: str
    url: str

    def toolbox(self, *, allow_privileged_role: bool = False) -> SqlToolbox:
        return SqlToolbox.from_url(
            self.url, schema=self.schema, allow_privileged_role=allow_privileged_role
        )


@pytest_asyncio.fixture
async def scratch() -> AsyncIterator[Scratch]:
    suffix = secrets.token_hex(4)
    schema, role, password = f"sql_roles_{suffix}", f"sql_roles_{suffix}", secrets.token_hex(8)
    await admin(
        f"CREATE SCHEMA {schema}",
        f"CREATE TABLE {schema}.items (id integer PRIMARY KEY, note text)",
        f"CREATE ROLE {role} LOGIN PASSWORD '{password}' NOSUPERUSER NOCREATEDB NOCREATEROLE",
        f"GRANT USAGE ON SCHEMA {schema} TO {role}",
        f"GRANT SELECT ON {schema}.items TO {role}",
    )
    try:
        yield Scratch(schema, role, with_user(ADMIN_URL, role, password))
    finally:
        await admin(
            f"DROP SCHEMA IF EXISTS {schema} CASCADE",
            f"DROP SCHEMA IF EXISTS {schema}_other CASCADE",
            f"DROP OWNED BY {role}",
            f"DROP ROLE {role}",
            f"DROP ROLE IF EXISTS {role}_writer",
        )


async def test_a_select_only_role_is_accepted(scratch: Scratch) -> None:
    box = scratch.toolbox()
    try:
        assert [table.name for table in await box.list_tables()] == ["items"]
        assert (await box.run_sql("SELECT count(*) FROM items")).rows == [[0]]
    finally:
        await box.aclose()


# (what to grant, with {s} the schema and {r} the role; what the refusal names)
GRANTS = {
    "insert": (["GRANT INSERT ON {s}.items TO {r}"], "INSERT on {s}.items"),
    "update-one-column": (["GRANT UPDATE (note) ON {s}.items TO {r}"], "UPDATE on {s}.items"),
    "delete": (["GRANT DELETE ON {s}.items TO {r}"], "DELETE on {s}.items"),
    "truncate": (["GRANT TRUNCATE ON {s}.items TO {r}"], "TRUNCATE on {s}.items"),
    "references": (["GRANT REFERENCES ON {s}.items TO {r}"], "REFERENCES on {s}.items"),
    "trigger": (["GRANT TRIGGER ON {s}.items TO {r}"], "TRIGGER on {s}.items"),
    "table-owner": (["ALTER TABLE {s}.items OWNER TO {r}"], "owner of {s}.items"),
    "create-on-schema": (["GRANT CREATE ON SCHEMA {s} TO {r}"], "CREATE on schema {s}"),
    "schema-owner": (["ALTER SCHEMA {s} OWNER TO {r}"], "owner of schema {s}"),
    "inherited-from-a-group": (
        [
            "CREATE ROLE {r}_writer NOLOGIN",
            "GRANT INSERT ON {s}.items TO {r}_writer",
            "GRANT {r}_writer TO {r}",
        ],
        "INSERT on {s}.items",
    ),
    "sequence": (
        ["CREATE SEQUENCE {s}.ticket", "GRANT USAGE ON SEQUENCE {s}.ticket TO {r}"],
        "USAGE on sequence {s}.ticket",
    ),
    "another-usable-schema": (
        [
            "CREATE SCHEMA {s}_other",
            "CREATE TABLE {s}_other.notes (body text)",
            "GRANT USAGE ON SCHEMA {s}_other TO {r}",
            "GRANT DELETE ON {s}_other.notes TO {r}",
        ],
        "DELETE on {s}_other.notes",
    ),
    "createdb": (["ALTER ROLE {r} CREATEDB"], "CREATEDB"),
    "server-files": (["GRANT pg_read_server_files TO {r}"], "member of pg_read_server_files"),
}


@pytest.mark.parametrize(("statements", "named"), GRANTS.values(), ids=GRANTS.keys())
async def test_a_role_with_more_than_select_is_refused(
    scratch: Scratch, statements: list[str], named: str
) -> None:
    await admin(*(s.format(s=scratch.schema, r=scratch.role) for s in statements))
    refusing = scratch.toolbox()
    try:
        with pytest.raises(SqlToolError) as refused:
            await refusing.list_tables()
        message = refused.value.message
        assert named.format(s=scratch.schema) in message
        assert "SELECT-only role" in message and "SQL_TOOL_ALLOW_PRIVILEGED_ROLE" in message
        with pytest.raises(SqlToolError, match="more than SELECT"):  # no pool kept
            await refusing.run_sql("SELECT 1")
    finally:
        await refusing.aclose()
    allowed = scratch.toolbox(allow_privileged_role=True)
    try:
        assert "items" in [table.name for table in await allowed.list_tables()]
    finally:
        await allowed.aclose()
