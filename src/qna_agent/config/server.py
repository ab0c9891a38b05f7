"""Settings of the HTTP server process: where it listens, what it accepts, how it stops."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from qna_agent.config.base import SettingsGroup


class ServerSettings(SettingsGroup):
    """Listening, request size, shutdown and the secrets directory."""

    host: str = Field("127.0.0.1", description="Interface to listen on (`0.0.0.0` in containers).")
    port: int = Field(8000, ge=1, le=65535, description="TCP port to listen on.")
    max_request_bytes: int = Field(
        1_048_576, ge=1024, description="Largest request body accepted (bytes); larger gets 413."
    )
    shutdown_grace_seconds: float = Field(
        25.0,
        ge=0,
        description="Total drain time from SIGTERM: in-flight requests, streams and turns may "
        "finish until then; turns still running are then stored as `failed` (`interrupted`).",
    )
    secrets_dir: Path | None = Field(
        None,
        description="Directory with one file per setting (a mounted Kubernetes Secret, "
        "`/vault/secrets`). Read by `get_settings()`.",
    )
