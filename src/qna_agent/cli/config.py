"""`qna-agent config`: show or document the settings."""

from __future__ import annotations

import sys

import typer

from qna_agent.cli.common import out, settings_or_exit

app = typer.Typer(help="Configuration: show or document settings.", no_args_is_help=True)


@app.command("show")
def show() -> None:
    """Print the effective settings (secrets masked).

    Example: qna-agent config show
    """
    settings = settings_or_exit()
    for name, value in settings.model_dump(mode="json").items():
        out.print(f"{name.upper()}={value}", highlight=False)


@app.command("docs")
def docs() -> None:
    """Print the configuration reference (docs/configuration.md).

    Example: qna-agent config docs > docs/configuration.md
    """
    from qna_agent.settings_docs import render_settings_docs

    sys.stdout.write(render_settings_docs())
