"""Structured logging with structlog: JSON lines or readable console output.

Standard-library loggers (uvicorn, SQLAlchemy, alembic) go through the same processors, so
every line has the same shape and carries the request id bound in the context, and the trace
and span ids when tracing is on.

Secrets are kept out twice: values under secret-looking keys are masked, and the known secret
values (every `SecretStr` setting, the database password) are replaced wherever they appear in
a rendered line, tracebacks included.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable, MutableMapping
from typing import Any, Literal
from urllib.parse import urlsplit

import structlog
from pydantic import SecretStr

from qna_agent.config import Settings
from qna_agent.observability import tracing

MASK = "***"
# Shorter values are not scrubbed from whole lines: they would mangle ordinary words.
MIN_SCRUBBED_SECRET_CHARS = 8

_SECRET_KEYS = frozenset(
    {
        "authorization",
        "proxy-authorization",
        "api_key",
        "x-api-key",
        "llm_api_key",
        "metrics_token",
        "password",
        "secret",
        "token",
        "cookie",
        "set-cookie",
    }
)


def _redact_mapping(mapping: MutableMapping[str, Any], depth: int) -> None:
    for key, value in mapping.items():
        if isinstance(key, str) and key.lower() in _SECRET_KEYS:
            mapping[key] = MASK
        elif depth and isinstance(value, dict):
            _redact_mapping(value, depth - 1)


def _redact(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    _redact_mapping(event_dict, 2)
    return event_dict


def _add_trace_ids(
    _: Any, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    ids = tracing.current_ids()
    if ids is not None:
        event_dict.setdefault("trace_id", ids[0])
        event_dict.setdefault("span_id", ids[1])
    return event_dict


class _ScrubSecrets:
    """Wraps the renderer: known secret values never leave the process in a log line."""

    def __init__(self, renderer: structlog.typing.Processor, secrets: Iterable[str]) -> None:
        self.renderer = renderer
        variants: set[str] = set()
        for secret in secrets:
            if len(secret) >= MIN_SCRUBBED_SECRET_CHARS:
                variants.add(secret)
                variants.add(json.dumps(secret)[1:-1])  # as it appears inside a JSON string
        self.secrets = tuple(sorted(variants, key=len, reverse=True))

    def __call__(self, logger: Any, name: str, event_dict: structlog.typing.EventDict) -> Any:
        line = self.renderer(logger, name, event_dict)
        if isinstance(line, str):
            for secret in self.secrets:
                if secret in line:
                    line = line.replace(secret, MASK)
        return line


def secret_values(settings: Settings) -> list[str]:
    """Every secret the settings hold: `SecretStr` values and the database password."""
    values = [
        value.get_secret_value()
        for name in type(settings).model_fields
        if isinstance(value := getattr(settings, name), SecretStr)
    ]
    try:
        password = urlsplit(settings.database_url).password
    except ValueError:
        password = None
    if password:
        values.append(password)
    return [value for value in values if value]


def configure_logging(
    level: str, fmt: Literal["auto", "json", "console"], *, secrets: Iterable[str] = ()
) -> None:
    """Route structlog and standard logging through one pipeline."""
    use_json = fmt == "json" or (fmt == "auto" and not sys.stderr.isatty())
    shared: list[structlog.typing.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _add_trace_ids,
        _redact,
    ]
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer()
        if use_json
        else structlog.dev.ConsoleRenderer(colors=sys.stderr.isatty())
    )
    structlog.configure(
        # Drop below-level events before any work is done (debug lines cost nothing at INFO).
        processors=[
            structlog.stdlib.filter_by_level,
            *shared,
            structlog.stdlib.ProcessorFormatter.wrap_for_formatter,
        ],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info if use_json else _identity,
            _ScrubSecrets(renderer, secrets),
        ],
    )
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access"):
        logger = logging.getLogger(name)
        logger.handlers[:] = []
        logger.propagate = True
    # One access line per request comes from api/middleware/telemetry.py; uvicorn's stays quiet.
    logging.getLogger("uvicorn.access").setLevel(logging.WARNING)
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)  # set-up chatter
    # Per-request and per-operation chatter of HTTP clients and drivers, even at DEBUG: our
    # own lines say the same once (llm_call_finished, request_finished).
    for name in ("httpx", "httpx2", "httpcore", "httpcore2"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(logging.INFO)


def _identity(
    _: Any, __: str, event_dict: structlog.typing.EventDict
) -> structlog.typing.EventDict:
    return event_dict
