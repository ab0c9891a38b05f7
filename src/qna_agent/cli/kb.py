"""`qna-agent kb`: index, search and count the knowledge base."""

from __future__ import annotations

import json
from typing import Annotated, Any

import typer
from rich.table import Table

from qna_agent.cli.common import out, run, settings_or_exit, with_services

app = typer.Typer(help="Knowledge base: index and search documents.", no_args_is_help=True)


@app.command("sync")
def sync(
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Index new and changed documents of KNOWLEDGE_DIR, drop removed ones.

    Example: KNOWLEDGE_DIR=./docs qna-agent kb sync
    """
    settings = settings_or_exit()

    async def work(services: Any) -> Any:
        return await services.knowledge.sync()

    report = run(lambda: with_services(settings, work))
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


@app.command("search")
def search(
    query: Annotated[str, typer.Argument(help="What to look for.")],
    top_k: Annotated[int, typer.Option(min=1, max=50, help="Passages to show.")] = 5,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
) -> None:
    """Search the knowledge base as the agent does.

    Example: qna-agent kb search "return window"
    """
    settings = settings_or_exit()

    async def work(services: Any) -> Any:
        return await services.knowledge.search(query, top_k)

    hits = run(lambda: with_services(settings, work))
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


@app.command("stats")
def stats() -> None:
    """Count indexed documents and chunks.

    Example: qna-agent kb stats
    """
    settings = settings_or_exit()

    async def work(services: Any) -> tuple[int, int]:
        counts: tuple[int, int] = await services.knowledge.counts()
        return counts

    documents, chunks = run(lambda: with_services(settings, work))
    out.print(f"{documents} documents, {chunks} chunks")
