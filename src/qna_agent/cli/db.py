"""`qna-agent db`: migrations, backup and restore."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.engine import make_url

from qna_agent.cli.common import EXIT_CONFIG, CliError, examples, out, run, settings_or_exit
from qna_agent.config import Settings

app = typer.Typer(
    help="Database: migrations, backup and restore.",
    epilog=examples(
        "qna-agent db upgrade",
        "qna-agent db backup /backups/qna-$(date +%F).db",
        "qna-agent db restore /backups/qna-2026-11-24.db --yes",
    ),
    no_args_is_help=True,
)


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
        raise CliError(
            "backup/restore here is for SQLite; use pg_dump/pg_restore for PostgreSQL "
            "(see docs/production.md)",
            EXIT_CONFIG,
        )
    database = make_url(settings.database_url).database
    if not database or database == ":memory:":
        raise CliError("DATABASE_URL names no database file", EXIT_CONFIG)
    return Path(database)


def _open_read_only(path: Path, *, immutable: bool = False) -> sqlite3.Connection:
    """A connection that can neither write `path` nor create it when it is missing.

    `immutable`: the file is a finished backup nobody writes, so SQLite takes no locks and
    leaves no -wal/-shm files beside it.
    """
    suffix = "?mode=ro&immutable=1" if immutable else "?mode=ro"
    return sqlite3.connect(f"{path.resolve().as_uri()}{suffix}", uri=True)


def _check_backup(path: Path) -> None:
    """Exit 1 unless `path` is an intact qna-agent SQLite database."""
    try:
        with closing(_open_read_only(path, immutable=True)) as check:
            intact = check.execute("PRAGMA integrity_check").fetchone() == ("ok",)
            tables = {row[0] for row in check.execute("SELECT name FROM sqlite_master")}
    except sqlite3.DatabaseError as exc:
        raise CliError(f"{path} is not a SQLite database ({exc})") from None
    if not intact:
        raise CliError(f"{path} fails its integrity check")
    if "alembic_version" not in tables:
        # An empty file is a valid, empty SQLite database: restoring it would erase everything.
        raise CliError(f"{path} is not a qna-agent database (no alembic_version table)")


@app.command("backup")
def backup(target: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Copy the SQLite database online (safe while the service runs).

    Example: qna-agent db backup /backups/qna-2026-11-24.db
    """
    source = sqlite_path(settings_or_exit())
    if not source.is_file():
        raise CliError(f"no database at {source} (DATABASE_URL); nothing to back up", EXIT_CONFIG)
    if target.exists():
        raise CliError(f"{target} exists; choose a new file")
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(target.name + ".partial")
    try:
        with closing(_open_read_only(source)) as src, closing(sqlite3.connect(partial)) as dst:
            src.backup(dst)
            # One self-contained file: the copy leaves WAL mode, so opening it later (to
            # check or restore it) needs and makes no -wal/-shm files beside it.
            dst.execute("PRAGMA journal_mode=DELETE")
        partial.replace(target)
    finally:
        partial.unlink(missing_ok=True)  # a failed copy leaves nothing behind
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
        raise CliError(f"{backup_file} is not a file")
    _check_backup(backup_file)
    if not yes:
        typer.confirm(f"Replace {target} with {backup_file}?", abort=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with (
        closing(_open_read_only(backup_file, immutable=True)) as src,
        closing(sqlite3.connect(target)) as dst,
    ):
        src.backup(dst)
    out.print(f"restored {target} from {backup_file}")
