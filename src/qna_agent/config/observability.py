"""Settings of logs and metrics."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr, field_validator

from qna_agent.config.base import SettingsGroup


class ObservabilitySettings(SettingsGroup):
    """Log level and format, the Prometheus endpoint."""

    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = Field(
        "INFO", description="Minimum log level."
    )
    log_format: Literal["auto", "json", "console"] = Field(
        "auto", description="`json` lines, readable `console`, or `auto` (console on a terminal)."
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at `GET /metrics`.")
    metrics_token: SecretStr | None = Field(
        None,
        description="If set, `/metrics` needs `Authorization: Bearer <token>` (secret). "
        "The endpoint never uses the API's own authentication.",
    )

    @field_validator("log_level", mode="before")
    @classmethod
    def _upper_level(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value
