"""`qna-agent keys`: create, list and revoke API keys."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer

from qna_agent.cli.common import err, examples, out, run, settings_or_exit, with_services

app = typer.Typer(
    help="API keys: create, list, revoke.",
    epilog=examples(
        "qna-agent keys create --name alice --role user",
        "qna-agent keys list --all --json",
        "qna-agent keys revoke qna_Ab3dE7xY",
    ),
    no_args_is_help=True,
)


def _row(row: Any) -> dict[str, Any]:
    return {
        "id": str(row.id),
        "name": row.name,
        "role": row.role,
        "prefix": row.prefix,
        "created_at": row.created_at.isoformat(),
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "last_used_at": row.last_used_at.isoformat() if row.last_used_at else None,
    }


@app.command("create")
def create(
    name: Annotated[str, typer.Option(help="The principal the key acts as (owns its chats).")],
    role: Annotated[str, typer.Option(help="`user` or `admin`.")] = "user",
) -> None:
    """Make a key and print it once (only its hash is stored).

    Example: qna-agent keys create --name alice --role user
    """
    from qna_agent.security import keys

    settings = settings_or_exit()

    async def work(services: Any) -> keys.CreatedKey:
        async with services.database.write_sessions.begin() as session:
            return await keys.create_key(session, name=name, role=role)

    created = run(lambda: with_services(settings, work))
    err.print(
        f"created {created.row.role} key {created.row.prefix}... for {created.row.name} "
        f"(id {created.row.id}); it is shown only now:",
        highlight=False,
    )
    out.print(created.key, highlight=False, soft_wrap=True)


@app.command("list")
def list_(
    all_: Annotated[bool, typer.Option("--all", help="Include revoked keys.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="JSON output.")] = False,
) -> None:
    """List keys by prefix (never the keys themselves).

    Example: qna-agent keys list --all
    """
    from qna_agent.security import keys

    settings = settings_or_exit()

    async def work(services: Any) -> list[dict[str, Any]]:
        async with services.database.sessions() as session:
            return [_row(r) for r in await keys.list_keys(session, include_revoked=all_)]

    rows = run(lambda: with_services(settings, work))
    if as_json:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        state = f"revoked {row['revoked_at']}" if row["revoked_at"] else "active"
        used = row["last_used_at"] or "never used"
        out.print(
            f"{row['prefix']}...  {row['name']:<20} {row['role']:<6} {state:<10} {used}  "
            f"{row['id']}",
            highlight=False,
        )


@app.command("revoke")
def revoke(
    key: Annotated[str, typer.Argument(help="The key's id or its prefix (qna_XXXXXXXX).")],
) -> None:
    """Revoke a key; it stops working on the next request.

    Example: qna-agent keys revoke qna_Ab3dE7xY
    """
    from qna_agent.security import keys

    settings = settings_or_exit()

    async def work(services: Any) -> Any:
        async with services.database.write_sessions.begin() as session:
            return await keys.revoke_key(session, key_id_or_prefix=key.removesuffix("..."))

    row = run(lambda: with_services(settings, work))
    out.print(f"revoked {row.prefix}... ({row.name})", highlight=False)
