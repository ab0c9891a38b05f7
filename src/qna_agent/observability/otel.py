"""The OpenTelemetry side of `tracing`: imported only when tracing is on (the `otel` extra).

Spans follow the semantic conventions: `SERVER` spans for requests (continuing the caller's
W3C `traceparent`), GenAI attributes on model and tool spans (set by the callers), `CLIENT`
spans for SQL statements with the statement text but never its parameters.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, MutableMapping
from contextlib import AbstractContextManager
from typing import Any

from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import SERVICE_NAME, SERVICE_VERSION, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SpanExporter
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from sqlalchemy import Engine, event

from qna_agent import __version__
from qna_agent.observability.tracing import Attributes

PROPAGATED_HEADERS = frozenset({b"traceparent", b"tracestate", b"baggage"})
MAX_STATEMENT_CHARS = 2000
_SPAN_KEY = "_qna_otel_span"


class OpenSpan:
    """A span ended by its owner; `attach()` makes it current until `detach(token)`."""

    __slots__ = ("_context", "span")

    def __init__(self, span: Span) -> None:
        self.span = span
        self._context = trace.set_span_in_context(span)

    def attach(self) -> object:
        """Make the span current in this context."""
        return otel_context.attach(self._context)

    def detach(self, token: object) -> None:
        """Undo `attach`."""
        otel_context.detach(token)  # type: ignore[arg-type]

    def set_attribute(self, key: str, value: Any) -> None:
        """Add or replace one attribute."""
        self.span.set_attribute(key, value)

    def update_name(self, name: str) -> None:
        """Rename the span."""
        self.span.update_name(name)

    def finish(self, error: BaseException | None = None) -> None:
        """End the span, marked as an error when `error` is given."""
        if error is not None:
            self.span.record_exception(error)
            self.span.set_status(Status(StatusCode.ERROR, type(error).__name__))
        self.span.end()


class OtelBackend:
    """Spans from one tracer provider."""

    def __init__(self, provider: trace.TracerProvider, *, protocol: str) -> None:
        self.provider = provider
        self.protocol = protocol
        self.tracer = provider.get_tracer("qna_agent", __version__)

    def span(self, name: str, attributes: Attributes | None) -> AbstractContextManager[Span]:
        """A current child span."""
        return self.tracer.start_as_current_span(name, attributes=attributes)

    def server_span(
        self, name: str, headers: Iterable[tuple[bytes, bytes]], attributes: Attributes
    ) -> AbstractContextManager[Span]:
        """A SERVER span whose parent is the incoming `traceparent`, if any."""
        carrier = {
            key.decode("latin-1"): value.decode("latin-1")
            for key, value in headers
            if key in PROPAGATED_HEADERS
        }
        parent = propagate.extract(carrier) if carrier else None
        return self.tracer.start_as_current_span(
            name, context=parent, kind=SpanKind.SERVER, attributes=attributes
        )

    def open_span(self, name: str, attributes: Attributes | None) -> OpenSpan:
        """A child span of the current one, not made current."""
        return OpenSpan(self.tracer.start_span(name, kind=SpanKind.CLIENT, attributes=attributes))

    @staticmethod
    def set_error(span: object, description: str) -> None:
        """Mark `span` failed."""
        if isinstance(span, Span):
            span.set_status(Status(StatusCode.ERROR, description))

    @staticmethod
    def current_ids() -> tuple[str, str] | None:
        """Hex trace and span id of the current span."""
        context = trace.get_current_span().get_span_context()
        if not context.is_valid:
            return None
        return format(context.trace_id, "032x"), format(context.span_id, "016x")

    @staticmethod
    def inject(headers: MutableMapping[str, str]) -> None:
        """Propagate the current context into outgoing headers."""
        propagate.inject(headers)

    def instrument_engine(self, engine: Engine, system: str) -> None:
        """A CLIENT span for every statement the engine runs."""
        tracer = self.tracer

        def before(
            _conn: Any, _cursor: Any, statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            operation = statement.lstrip().split(None, 1)[0].upper() if statement else "SQL"
            span = tracer.start_span(
                operation,
                kind=SpanKind.CLIENT,
                attributes={
                    "db.system.name": system,
                    "db.operation.name": operation,
                    "db.query.text": statement[:MAX_STATEMENT_CHARS],
                },
            )
            if context is not None:
                setattr(context, _SPAN_KEY, span)

        def after(
            _conn: Any, _cursor: Any, _statement: str, _params: Any, context: Any, _many: bool
        ) -> None:
            span: Span | None = getattr(context, _SPAN_KEY, None)
            if span is not None:
                span.end()
                setattr(context, _SPAN_KEY, None)

        def failed(exception_context: Any) -> None:
            context = exception_context.execution_context
            span: Span | None = getattr(context, _SPAN_KEY, None)
            if span is not None:
                error = exception_context.original_exception
                span.set_status(Status(StatusCode.ERROR, type(error).__name__))
                span.end()
                setattr(context, _SPAN_KEY, None)

        if not event.contains(engine, "before_cursor_execute", before):
            event.listen(engine, "before_cursor_execute", before)
            event.listen(engine, "after_cursor_execute", after)
            event.listen(engine, "handle_error", failed)

    def flush(self, timeout_seconds: float) -> None:
        """Export what is buffered."""
        force_flush = getattr(self.provider, "force_flush", None)
        if force_flush is not None:
            force_flush(int(timeout_seconds * 1000))


def _exporter(protocol: str) -> SpanExporter:
    if protocol == "grpc":
        # Only when the gRPC exporter is installed; the extra brings OTLP/HTTP.
        from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (  # type: ignore[import-not-found]
            OTLPSpanExporter as GrpcExporter,
        )

        exporter: SpanExporter = GrpcExporter()
        return exporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

    return OTLPSpanExporter()


def backend_from_environment() -> OtelBackend | None:
    """A provider exporting over OTLP as the standard `OTEL_*` variables say."""
    import structlog

    protocol = (
        os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL")
        or os.environ.get("OTEL_EXPORTER_OTLP_PROTOCOL")
        or "http/protobuf"
    ).strip()
    try:
        exporter = _exporter(protocol)
    except ImportError:
        structlog.get_logger(__name__).warning(
            "tracing_unavailable",
            reason=f"no OTLP exporter installed for protocol {protocol!r}",
            hint="use OTEL_EXPORTER_OTLP_PROTOCOL=http/protobuf or install "
            "opentelemetry-exporter-otlp-proto-grpc",
        )
        return None
    # Resource.create also reads OTEL_RESOURCE_ATTRIBUTES; a service.name given there wins.
    attributes: dict[str, str] = {SERVICE_VERSION: __version__}
    named_by_attributes = "service.name=" in os.environ.get("OTEL_RESOURCE_ATTRIBUTES", "")
    if os.environ.get("OTEL_SERVICE_NAME") or not named_by_attributes:
        attributes[SERVICE_NAME] = os.environ.get("OTEL_SERVICE_NAME") or "qna-agent"
    resource = Resource.create(attributes)
    provider = TracerProvider(resource=resource)  # the sampler comes from OTEL_TRACES_SAMPLER
    provider.add_span_processor(BatchSpanProcessor(exporter))
    # Deliberately not the global provider: FastAPI's native telemetry switches itself on when
    # one is set and would trace every request a second time (and every dependency).
    return OtelBackend(provider, protocol=protocol)
