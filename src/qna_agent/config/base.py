"""What every settings group shares: the deployment environment and small value checks.

Each group is a `BaseSettings` mixin; `Settings` combines them by inheritance, so every field
keeps its flat environment variable name and its flat attribute (`settings.kb_top_k`).
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlsplit

from pydantic import Field
from pydantic_settings import BaseSettings

Environment = Literal["development", "test", "production"]


class SettingsGroup(BaseSettings):
    """The base of every group: `environment` decides how strict the others are."""

    environment: Environment = Field(
        "development", description="`development`, `test` or `production` (stricter checks)."
    )


def split_list(value: str) -> list[str]:
    """A comma-separated setting as its non-empty, stripped parts."""
    return [part.strip() for part in value.split(",") if part.strip()]


def http_url(value: str | None) -> str | None:
    """`value` stripped, if it is an http:// or https:// URL; ValueError otherwise."""
    if value is None:
        return None
    parts = urlsplit(value.strip())
    parts.port  # noqa: B018  (raises ValueError naming a port that is not a number)
    if parts.scheme not in ("http", "https") or not parts.hostname or " " in value.strip():
        raise ValueError(f"{value!r} is not an http:// or https:// URL")
    return value.strip()
