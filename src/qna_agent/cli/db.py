"""`qna-agent db`: migrations, backup and restore."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from qna_agent.cli.common import EXIT_CONFIG, EXIT_FAILURE, err, out, run, settings_or_exit
from qna_agent.config import Settings

app = typer.Typer(help="Database: migrations, backup and restore.", no_args_is_help=True)


@app.command("upgrade")
def upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (run once per release in production).

    Example: qna-agent db upgrade
    """
    from qna_agent.db import migrate
    from qna_agent.db.engine import Database

    settings = settings_or_exit()

    async def work() -> set[str]:
        database = Database(settings)
        try:
            await migrate.upgrade(database, revision)
            return await migrate.current_revisions(database)
        finally:
            await database.dispose()

    current = run(work)
    out.print(f"database at revision {', '.join(sorted(current)) or '(none)'}")


def sqlite_path(settings: Settings) -> Path:
    """The SQLite file of DATABASE_URL, or exit 2 for other databases."""
    if not settings.is_sqlite:
        err.print(
            "error: backup/restore here is for SQLite; use pg_dump/pg_restore for PostgreSQL "
            "(see docs/production.md)"
        )
        raise typer.Exit(EXIT_CONFIG)
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        err.print("error: DATABASE_URL names no database file")
        raise typer.Exit(EXIT_CONFIG)
    return Path(database)


@app.command("backup")
def backup(target: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Copy the SQLite database online (safe while the service runs).

    Example: qna-agent db backup /backups/qna-2026-11-24.db
    """
    source = sqlite_path(settings_or_exit())
    if target.exists():
        err.print(f"error: {target} exists; choose a new file")
        raise typer.Exit(EXIT_FAILURE)
    partial = target.with_name(target.name + ".partial")
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    partial.replace(target)
    out.print(f"backed up {source} to {target}")


@app.command("restore")
def restore(
    backup_file: Annotated[Path, typer.Argument(help="Backup file made by `db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the SQLite database with a backup (stop the service first).

    Example: qna-agent db restore /backups/qna-2026-11-24.db --yes
    """
    target = sqlite_path(settings_or_exit())
    if not backup_file.is_file():
        err.print(f"error: {backup_file} is not a file")
        raise typer.Exit(EXIT_FAILURE)
    with sqlite3.connect(f"file:{backup_file}?mode=ro", uri=True) as check:
        if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            err.print(f"error: {backup_file} fails its integrity check")
            raise typer.Exit(EXIT_FAILURE)
    if not yes:
        typer.confirm(f"Replace {target} with {backup_file}?", abort=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(backup_file) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    out.print(f"restored {target} from {backup_file}")
