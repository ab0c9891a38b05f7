"""`qna-agent eval`: measure retrieval quality on a dataset."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.progress import Progress
from rich.table import Table

from qna_agent.cli.common import (
    EXIT_CONFIG,
    EXIT_FAILURE,
    err,
    examples,
    out,
    run,
    settings_or_exit,
    with_services,
)
from qna_agent.knowledge.retrieval.evaluation import (
    DatasetError,
    Scores,
    documents_in_order,
    load_dataset,
    score,
)

app = typer.Typer(
    help="Evaluation: retrieval quality on a dataset.",
    epilog=examples(
        "qna-agent eval retrieval",
        "qna-agent eval retrieval --dataset my-questions.jsonl --json",
        "qna-agent eval retrieval --min-recall-at-5 0.8   # fails (exit 1) below the floor",
    ),
    no_args_is_help=True,
)
MODES = ("lexical", "dense", "hybrid")
DEFAULT_DATASET = Path("examples/eval/retrieval.jsonl")


@app.command("retrieval")
def retrieval(
    dataset: Annotated[
        Path, typer.Option(help="JSONL: question and gold document paths.")
    ] = DEFAULT_DATASET,
    passages: Annotated[int, typer.Option(min=10, max=200, help="Passages retrieved.")] = 40,
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    min_recall_at_5: Annotated[
        float | None,
        typer.Option(help="Exit 1 if hybrid recall@5 is below this (a CI floor)."),
    ] = None,
) -> None:
    """Recall@1/5/10, MRR and nDCG@10 for lexical-only, dense-only and hybrid search.

    Indexes KNOWLEDGE_DIR first (unchanged files are skipped).

    Example: qna-agent eval retrieval --dataset examples/eval/retrieval.jsonl
    """
    try:
        questions = load_dataset(dataset)
    except (OSError, DatasetError) as exc:
        err.print(f"error: {exc}", highlight=False)
        raise typer.Exit(EXIT_CONFIG) from None
    settings = settings_or_exit()

    async def work(services: Any) -> dict[str, Scores]:
        await services.knowledge.open()
        await services.knowledge.sync()
        rankings: dict[str, list[list[str]]] = {mode: [] for mode in MODES}
        with Progress(transient=True, console=err, disable=as_json) as progress:
            task = progress.add_task("questions", total=len(questions))
            for item in questions:
                found = await services.knowledge.search_modes(item.question, passages)
                for mode in MODES:
                    rankings[mode].append(documents_in_order(found[mode]))
                progress.advance(task)
        return {mode: score(rankings[mode], questions) for mode in MODES}

    results = run(lambda: with_services(settings, work))
    report = {mode: scores.as_dict() for mode, scores in results.items()}
    if as_json:
        out.print_json(json.dumps({"questions": len(questions), "modes": report}))
    else:
        table = Table(title=f"{len(questions)} questions from {dataset}")
        table.add_column("mode")
        for metric in report["hybrid"]:
            table.add_column(metric, justify="right")
        for mode, metrics in report.items():
            table.add_row(mode, *(f"{value:.3f}" for value in metrics.values()))
        out.print(table)
    if min_recall_at_5 is not None and results["hybrid"].recall[5] < min_recall_at_5:
        err.print(f"hybrid recall@5 {results['hybrid'].recall[5]:.3f} < {min_recall_at_5}")
        raise typer.Exit(EXIT_FAILURE)
