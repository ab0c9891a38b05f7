"""The one `Settings` class, composed of the groups, and how the process loads it.

Precedence, highest first: explicit arguments, environment variables, `<NAME>_FILE` files,
the `.env` file, files in `SECRETS_DIR` (one file per variable, as Kubernetes mounts a Secret),
then the defaults of the groups. `docs/configuration.md` is generated from this class
(`qna-agent config docs`) and a test keeps the two equal.
"""

from __future__ import annotations

import os
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from qna_agent.config.agent import AgentSettings
from qna_agent.config.chats import ChatSettings
from qna_agent.config.database import DatabaseSettings
from qna_agent.config.knowledge import KnowledgeSettings
from qna_agent.config.llm import LlmSettings
from qna_agent.config.observability import ObservabilitySettings
from qna_agent.config.security import SecuritySettings
from qna_agent.config.server import ServerSettings
from qna_agent.config.sources import by_precedence, env_names
from qna_agent.config.sql_tool import SqlToolSettings


# Fields are listed (and documented) from the last base to the first: server settings first.
class Settings(
    SecuritySettings,
    SqlToolSettings,
    ChatSettings,
    AgentSettings,
    LlmSettings,
    KnowledgeSettings,
    DatabaseSettings,
    ObservabilitySettings,
    ServerSettings,
):
    """All settings of the service. Field names are the environment variable names."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
        validate_default=True,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return by_precedence(
            settings_cls, init_settings, env_settings, dotenv_settings, file_secret_settings
        )


class SettingsError(Exception):
    """Configuration is invalid; the message names the variable(s)."""


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the process environment, raising SettingsError with one clear line."""
    secrets_dir = overrides.pop("_secrets_dir", None) or os.environ.get("SECRETS_DIR") or None
    try:
        if secrets_dir is not None and not Path(secrets_dir).is_dir():
            raise SettingsError(f"SECRETS_DIR: {secrets_dir} is not a directory")
        return Settings(_secrets_dir=secrets_dir, **overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except ValueError as exc:  # raised by FileValueSource
        raise SettingsError(str(exc)) from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable rather than the Python field."""
    fields = Settings.model_fields
    parts = []
    for error in exc.errors():
        loc = error.get("loc") or ()
        name = str(loc[0]) if loc else ""
        field = fields.get(name)
        variable = env_names(name, field)[0] if field else name.upper()
        message = str(error.get("msg", "invalid value")).removeprefix("Value error, ")
        parts.append(f"{variable}: {message}" if variable else message)
    return "invalid configuration: " + "; ".join(parts)


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return load_settings()
