"""The `qna-agent` command line."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.table import Table
from sqlalchemy.engine import make_url

from qna_agent import __version__
from qna_agent.config import Settings, SettingsError, load_settings

T = TypeVar("T")

app = typer.Typer(
    name="qna-agent",
    help="A question-answering agent service: chat API with cited answers from your documents.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
db_app = typer.Typer(help="Database: migrations, backup and restore.", no_args_is_help=True)
kb_app = typer.Typer(help="Knowledge base: index and search documents.", no_args_is_help=True)
config_app = typer.Typer(help="Configuration: show or document settings.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(kb_app, name="kb")
app.add_typer(config_app, name="config")

out = Console()
err = Console(stderr=True)

EXIT_CONFIG = 2
EXIT_FAILURE = 1


def _settings(**overrides: Any) -> Settings:
    try:
        return load_settings(**overrides)
    except SettingsError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None


def _run(factory: Callable[[], Awaitable[T]]) -> T:
    return asyncio.run(factory())  # type: ignore[arg-type]


@app.command()
def version() -> None:
    """Print the version.

    Example: qna-agent version
    """
    out.print(__version__)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Interface (default: HOST).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default: PORT).")] = None,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 1,
) -> None:
    """Serve the API (migrates first in development).

    Example: qna-agent serve --port 8000
    """
    import uvicorn

    settings = _settings()
    uvicorn.run(
        "qna_agent.main:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        workers=workers,
        log_config=None,
        timeout_graceful_shutdown=int(settings.shutdown_grace_seconds),
        proxy_headers=True,
        server_header=False,
    )


@db_app.command("upgrade")
def db_upgrade(revision: Annotated[str, typer.Argument(help="Target revision.")] = "head") -> None:
    """Apply database migrations (run once per release in production).

    Example: qna-agent db upgrade
    """
    from qna_agent.db import migrate
    from qna_agent.db.engine import Database

    settings = _settings()

    async def upgrade() -> set[str]:
        database = Database(settings)
        try:
            await migrate.upgrade(database, revision)
            return await migrate.current_revisions(database)
        finally:
            await database.dispose()

    current = _run(upgrade)
    out.print(f"database at revision {', '.join(sorted(current)) or '(none)'}")


def _sqlite_path(settings: Settings) -> Path:
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


@db_app.command("backup")
def db_backup(target: Annotated[Path, typer.Argument(help="Backup file to write.")]) -> None:
    """Copy the SQLite database online (safe while the service runs).

    Example: qna-agent db backup /backups/qna-2026-11-24.db
    """
    source = _sqlite_path(_settings())
    if target.exists():
        err.print(f"error: {target} exists; choose a new file")
        raise typer.Exit(EXIT_FAILURE)
    partial = target.with_name(target.name + ".partial")
    with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
        src.backup(dst)
    partial.replace(target)
    out.print(f"backed up {source} to {target}")


@db_app.command("restore")
def db_restore(
    backup: Annotated[Path, typer.Argument(help="Backup file made by `db backup`.")],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
) -> None:
    """Replace the SQLite database with a backup (stop the service first).

    Example: qna-agent db restore /backups/qna-2026-11-24.db --yes
    """
    target = _sqlite_path(_settings())
    if not backup.is_file():
        err.print(f"error: {backup} is not a file")
        raise typer.Exit(EXIT_FAILURE)
    with sqlite3.connect(f"file:{backup}?mode=ro", uri=True) as check:
        if check.execute("PRAGMA integrity_check").fetchone() != ("ok",):
            err.print(f"error: {backup} fails its integrity check")
            raise typer.Exit(EXIT_FAILURE)
    if not yes:
        typer.confirm(f"Replace {target} with {backup}?", abort=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(backup) as src, sqlite3.connect(target) as dst:
        src.backup(dst)
    out.print(f"restored {target} from {backup}")


async def _with_services(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    from qna_agent.container import build_services
    from qna_agent.db import migrate

    services = build_services(settings)
    try:
        if settings.auto_migrate:
            await migrate.upgrade(services.database)
        return await work(services)
    finally:
        await services.close()


@kb_app.command("sync")
def kb_sync(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Index new and changed documents of KNOWLEDGE_DIR, drop removed ones.

    Example: KNOWLEDGE_DIR=./docs qna-agent kb sync
    """
    settings = _settings()

    async def work(services: Any) -> Any:
        return await services.knowledge.sync()

    report = _run(lambda: _with_services(settings, work))
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "added": report.added,
                    "changed": report.changed,
                    "removed": report.removed,
                    "unchanged": report.unchanged,
                    "skipped": [{"path": p, "reason": r} for p, r in report.skipped],
                }
            )
        )
        return
    out.print(
        f"{settings.knowledge_dir}: {len(report.added)} added, {len(report.changed)} changed, "
        f"{len(report.removed)} removed, {len(report.unchanged)} unchanged, "
        f"{len(report.skipped)} skipped"
    )
    for path, reason in report.skipped:
        out.print(f"  skipped {path}: {reason}", highlight=False)


@kb_app.command("search")
def kb_search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option(min=1, max=50, help="Passages to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the knowledge base as the agent does.

    Example: qna-agent kb search "return window"
    """
    settings = _settings()

    async def work(services: Any) -> Any:
        return await services.knowledge.search(query, top_k)

    hits = _run(lambda: _with_services(settings, work))
    if as_json:
        out.print_json(
            json.dumps(
                [
                    {"source": h.path, "heading": h.heading, "score": h.score, "snippet": h.snippet}
                    for h in hits
                ]
            )
        )
        return
    table = Table("score", "source", "heading", "snippet")
    for hit in hits:
        table.add_row(f"{hit.score:.3f}", hit.path, hit.heading, hit.snippet)
    out.print(table)


@kb_app.command("stats")
def kb_stats() -> None:
    """Count indexed documents and chunks.

    Example: qna-agent kb stats
    """
    settings = _settings()

    async def work(services: Any) -> tuple[int, int]:
        counts: tuple[int, int] = await services.knowledge.counts()
        return counts

    documents, chunks = _run(lambda: _with_services(settings, work))
    out.print(f"{documents} documents, {chunks} chunks")


@config_app.command("show")
def config_show() -> None:
    """Print the effective settings (secrets masked).

    Example: qna-agent config show
    """
    settings = _settings()
    values = settings.model_dump(mode="json")
    for name, value in values.items():
        out.print(f"{name.upper()}={value}", highlight=False)


@config_app.command("docs")
def config_docs() -> None:
    """Print the configuration reference (docs/configuration.md).

    Example: qna-agent config docs > docs/configuration.md
    """
    from qna_agent.settings_docs import render_settings_docs

    sys.stdout.write(render_settings_docs())


def main() -> None:
    """Console-script entry point."""
    app()
