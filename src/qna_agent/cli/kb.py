"""`qna-agent kb`: index, search and count the knowledge base."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from qna_agent.cli.common import (
    EXIT_FAILURE,
    err,
    out,
    run,
    settings_or_exit,
    with_services,
)
from qna_agent.errors import QnaError
from qna_agent.knowledge.index.uploads import UploadOutcome

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
        await services.knowledge.open()
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("indexing", total=None)
            return await services.knowledge.sync(
                lambda path: progress.update(task, description=path, advance=1)
            )

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


def ingest_targets(paths: list[Path]) -> dict[str, Path]:
    """The upload name of each file to ingest: a file by its name, the files of a directory
    by their path inside it (hidden entries skipped). Raises ValueError on a clash."""
    targets: dict[str, Path] = {}
    for path in paths:
        if path.is_file():
            found = [(path.name, path)]
        else:
            found = [
                (file.relative_to(path).as_posix(), file)
                for file in sorted(path.rglob("*"))
                if file.is_file()
                and not any(part.startswith(".") for part in file.relative_to(path).parts)
            ]
        for name, file in found:
            other = targets.setdefault(name, file)
            if other != file:
                raise ValueError(
                    f"{other} and {file} would both be stored as uploads/{name}; "
                    "rename one, or ingest their parent directory to keep the folders"
                )
    return targets


@app.command("ingest")
def ingest(
    paths: Annotated[list[Path], typer.Argument(help="Files or directories to upload.")],
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Store and index documents in the database (like POST /kb/documents), from the shell.

    A file is stored as uploads/<name>; the files of a directory keep their path inside it
    (uploads/<sub>/<name>). The same bytes again change nothing.

    Example: qna-agent kb ingest ./manuals/*.pdf
    """
    settings = settings_or_exit()
    missing = [str(p) for p in paths if not p.exists()]
    if missing:
        err.print(f"error: no such file or directory: {', '.join(missing)}")
        raise typer.Exit(EXIT_FAILURE)
    try:
        targets = ingest_targets(paths)
    except ValueError as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(EXIT_FAILURE) from None

    async def work(services: Any) -> dict[str, list[Any]]:
        report: dict[str, list[Any]] = {outcome: [] for outcome in UploadOutcome}
        report["skipped"] = []
        await services.knowledge.open()
        with Progress(console=err, transient=True, disable=as_json) as progress:
            task = progress.add_task("ingesting", total=len(targets))
            for name, file in targets.items():
                progress.update(task, description=name)
                try:
                    document, outcome = await services.knowledge.ingest(
                        name, file.read_bytes(), keep_folders=True
                    )
                except QnaError as exc:
                    report["skipped"].append({"path": str(file), "reason": exc.detail})
                else:
                    report[outcome].append(document.path)
                progress.advance(task)
        return report

    report = run(lambda: with_services(settings, work))
    if as_json:
        out.print_json(json.dumps(report))
    else:
        out.print(
            ", ".join(f"{len(items)} {outcome}" for outcome, items in report.items()),
            highlight=False,
        )
        for item in report["skipped"]:
            out.print(f"  skipped {item['path']}: {item['reason']}", highlight=False)
    if report["skipped"] and len(report["skipped"]) == len(targets):
        raise typer.Exit(EXIT_FAILURE)


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
        await services.knowledge.open()
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
