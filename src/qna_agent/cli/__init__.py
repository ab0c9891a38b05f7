"""The `qna-agent` command line: one module per command group."""

from __future__ import annotations

from typing import Annotated

import typer

from qna_agent import __version__
from qna_agent.cli import chat as chat_commands
from qna_agent.cli import config, db, eval, kb, keys
from qna_agent.cli.common import ReportingGroup, examples, out, settings_or_exit
from qna_agent.cli.malloc_arenas import limit_malloc_arenas

app = typer.Typer(
    name="qna-agent",
    help="A question-answering agent service: chat API with cited answers from your documents.",
    epilog=examples(
        "qna-agent serve --port 8000",
        'qna-agent ask "How long do I have to return an item?"',
        "qna-agent chat --local",
        "qna-agent kb sync && qna-agent kb stats",
        "qna-agent keys create --name alice",
        "qna-agent COMMAND --help   # each command, with its own examples",
    ),
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    cls=ReportingGroup,  # a failing command prints one line and a meaningful exit code
)
app.add_typer(db.app, name="db")
# kb's examples are given here so that cli/kb.py (the knowledge base's own) stays as it is.
app.add_typer(
    kb.app,
    name="kb",
    epilog=examples(
        "qna-agent kb sync",
        'qna-agent kb search "return window" --json',
        "qna-agent kb ingest ./manuals/*.pdf",
        "qna-agent kb stats",
    ),
)
app.add_typer(config.app, name="config")
app.add_typer(eval.app, name="eval")
app.command("ask")(chat_commands.ask)
app.command("chat")(chat_commands.chat)
app.add_typer(keys.app, name="keys")


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
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            help="Worker processes. With more than one, metrics are summed across them "
            "through PROMETHEUS_MULTIPROC_DIR (a private temporary directory if unset).",
        ),
    ] = 1,
) -> None:
    """Serve the API (migrates first in development).

    Example: qna-agent serve --port 8000
    """
    import math
    import shutil

    import uvicorn

    from qna_agent.observability.multiprocess import prepare_directory

    settings = settings_or_exit()
    limit_malloc_arenas()  # before any thread starts: see cli/malloc_arenas.py
    # Workers must share one metrics directory, set before they start.
    metrics_dir = prepare_directory() if workers > 1 else None
    try:
        uvicorn.run(
            "qna_agent.main:create_app",
            factory=True,
            host=host or settings.host,
            port=port or settings.port,
            workers=workers,
            log_config=None,
            # The app counts the same grace from SIGTERM for the turns (qna_agent/shutdown.py):
            # the two waits share one deadline instead of adding up.
            timeout_graceful_shutdown=math.ceil(settings.shutdown_grace_seconds),
            # Gateway auth checks the socket's peer; forwarded headers must not replace it.
            proxy_headers=settings.resolved_auth_mode != "gateway",
            server_header=False,
        )
    finally:
        if metrics_dir is not None:
            shutil.rmtree(metrics_dir, ignore_errors=True)


def main() -> None:
    """Console-script entry point."""
    app()
