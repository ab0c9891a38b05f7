"""Traces: a small facade over OpenTelemetry that costs nothing when tracing is off.

Tracing is on when the standard `OTEL_EXPORTER_OTLP_ENDPOINT` (or
`OTEL_EXPORTER_OTLP_TRACES_ENDPOINT`) is set and the `otel` extra is installed; then
`qna_agent.observability.otel` is imported and spans are exported over OTLP. Otherwise nothing
from OpenTelemetry is imported, `span()` returns one shared no-op object and the other helpers
return at once.

The instrumented code only uses this module:

    with tracing.span("execute_tool search", {"gen_ai.tool.name": "search"}) as span:
        span.set_attribute("qna.tool.status", "ok")
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, MutableMapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, Protocol

import structlog

if TYPE_CHECKING:
    from opentelemetry.trace import TracerProvider
    from sqlalchemy import Engine

    from qna_agent.observability.otel import OtelBackend

log = structlog.get_logger(__name__)

Attributes = Mapping[str, str | int | float | bool]


class SpanLike(Protocol):
    """What instrumented code may do with a span."""

    def set_attribute(self, key: str, value: Any) -> None:
        """Add or replace one attribute."""

    def update_name(self, name: str) -> None:
        """Rename the span (once the route template is known)."""


class OpenSpanLike(SpanLike, Protocol):
    """A span its owner ends; current only between `attach()` and `detach(token)`."""

    def attach(self) -> object:
        """Make the span current in this context."""

    def detach(self, token: object) -> None:
        """Undo `attach`."""

    def finish(self, error: BaseException | None = None) -> None:
        """End the span, marked as failed when `error` is given."""


class _NoopSpan:
    """The span when tracing is off: its own context manager, stateless, shared."""

    __slots__ = ()

    def __enter__(self) -> _NoopSpan:
        return self

    def __exit__(self, *_: object) -> None:
        return None

    def set_attribute(self, key: str, value: Any) -> None:
        """Ignore the attribute."""

    def update_name(self, name: str) -> None:
        """Ignore the name."""


NOOP_SPAN = _NoopSpan()

_backend: OtelBackend | None = None


def enabled() -> bool:
    """Whether spans are recorded."""
    return _backend is not None


def span(name: str, attributes: Attributes | None = None) -> AbstractContextManager[SpanLike]:
    """A child span of the current one, current inside the `with` block."""
    if _backend is None:
        return NOOP_SPAN
    return _backend.span(name, attributes)


def server_span(
    name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Attributes
) -> AbstractContextManager[SpanLike]:
    """The span of an incoming request, continuing the caller's `traceparent` if any."""
    if _backend is None:
        return NOOP_SPAN
    return _backend.server_span(name, headers, attributes)


def open_span(name: str, attributes: Attributes | None = None) -> OpenSpanLike | None:
    """A span that the caller ends itself (for async generators); None when tracing is off."""
    if _backend is None:
        return None
    return _backend.open_span(name, attributes)


def set_error(span: SpanLike, description: str) -> None:
    """Mark a span as failed (a 5xx answer, a failed turn)."""
    if _backend is not None:
        _backend.set_error(span, description)


def current_ids() -> tuple[str, str] | None:
    """The current trace and span ids in hex, for log lines."""
    if _backend is None:
        return None
    return _backend.current_ids()


def inject(headers: MutableMapping[str, str]) -> None:
    """Write `traceparent` (and `tracestate`) of the current span into outgoing headers."""
    if _backend is not None:
        _backend.inject(headers)


def instrument_engine(engine: Engine, system: str) -> None:
    """Give every SQL statement of `engine` (a synchronous engine, or an async engine's
    `sync_engine`) a span (only when tracing is on)."""
    if _backend is not None:
        _backend.instrument_engine(engine, system)


def endpoint_configured(environ: Mapping[str, str] = os.environ) -> bool:
    """Whether the standard OTEL variables ask for traces to be exported."""
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    if environ.get("OTEL_TRACES_EXPORTER", "otlp").strip().lower() == "none":
        return False
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT")
        or environ.get("OTEL_EXPORTER_OTLP_ENDPOINT")
    )


def configure_from_environment() -> bool:
    """Turn tracing on if the environment asks for it; returns whether it is on.

    Idempotent; never turns tracing off (tests may have installed a provider).
    """
    global _backend
    if _backend is not None:
        return True
    if not endpoint_configured():
        return False
    try:
        from qna_agent.observability import otel
    except ImportError as exc:
        log.warning(
            "tracing_unavailable",
            reason=f"OpenTelemetry is not installed ({exc.name})",
            hint="install the `otel` extra: pip install 'qna-agent[otel]'",
        )
        return False
    backend = otel.backend_from_environment()
    if backend is None:
        return False
    _backend = backend
    log.info("tracing_enabled", exporter="otlp", protocol=backend.protocol)
    return True


def use_provider(provider: TracerProvider | None) -> None:
    """Record spans with this provider (tests, embedding); None turns tracing off again."""
    global _backend
    if provider is None:
        _backend = None
        return
    from qna_agent.observability.otel import OtelBackend

    _backend = OtelBackend(provider, protocol="in-process")


def flush(timeout_seconds: float = 5.0) -> None:
    """Export finished spans now (at shutdown)."""
    if _backend is not None:
        _backend.flush(timeout_seconds)
