"""`qna-agent config`: show or document the settings."""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any
from urllib.parse import urlsplit, urlunsplit

import typer

from qna_agent.agent.prompts import effective_system_prompt
from qna_agent.cli.common import examples, out, settings_or_exit
from qna_agent.config import Settings, env_names

app = typer.Typer(
    help="Configuration: show or document settings.",
    epilog=examples(
        "qna-agent config show",
        "qna-agent config show --json | jq -r .AUTH_MODE",
        "qna-agent config docs > docs/configuration.md",
    ),
    no_args_is_help=True,
)

# Settings whose unset value means "decided from the others": show the decision.
EFFECTIVE = {
    "auth_mode": "resolved_auth_mode",
    "db_auto_migrate": "auto_migrate",
    "llm_provider": "resolved_llm_provider",
}


def mask_url_password(value: Any) -> Any:
    """A connection URL with its password replaced by `***` (other values unchanged)."""
    if not isinstance(value, str) or "://" not in value:
        return value
    try:
        parts = urlsplit(value)
        password = parts.password
    except ValueError:
        return value
    if not password:
        return value
    netloc = parts.netloc.replace(f":{password}@", ":***@", 1)
    return urlunsplit(parts._replace(netloc=netloc))


def effective_settings(settings: Settings) -> dict[str, Any]:
    """Every setting by its variable name, as in effect (secrets and URL passwords masked)."""
    values = {
        name: mask_url_password(value) for name, value in settings.model_dump(mode="json").items()
    }
    for field, derived in EFFECTIVE.items():
        values[field] = getattr(settings, derived)
    values["agent_system_prompt"] = effective_system_prompt(settings.agent_system_prompt)
    fields = Settings.model_fields
    return {env_names(name, fields[name])[0]: value for name, value in values.items()}


def _text(value: Any) -> str:
    if value is None:
        return "(unset)"
    if isinstance(value, str):
        return value
    return json.dumps(value)  # booleans, numbers, and LLM_PRICES as the JSON it is set with


@app.command("show")
def show(
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object.")] = False,
) -> None:
    """Print the effective settings (secrets masked, defaults resolved).

    Example: qna-agent config show

    Example: qna-agent config show --json | jq .DATABASE_URL
    """
    values = effective_settings(settings_or_exit())
    if as_json:
        sys.stdout.write(json.dumps(values, indent=2) + "\n")
        return
    for name, value in values.items():
        out.print(f"{name}={_text(value)}", highlight=False, markup=False)


@app.command("docs")
def docs() -> None:
    """Print the configuration reference (docs/configuration.md).

    Example: qna-agent config docs > docs/configuration.md
    """
    from qna_agent.config.docs import render_settings_docs

    sys.stdout.write(render_settings_docs())
