"""Per-request telemetry: one access line, HTTP metrics by route template, the server span.

Pure ASGI, inside `RequestIdMiddleware` (so every line carries the request id) and outside
the body limit (so refused uploads are counted). It is also where an exception nothing else
handled is logged, once, with its traceback, and answered with a problem 500: Starlette's
last-resort handler would re-raise it and the server would log it a second time.
"""

from __future__ import annotations

import asyncio
import time

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qna_agent.api.errors import problem_response
from qna_agent.observability import metrics, tracing

log = structlog.get_logger("qna_agent.access")
error_log = structlog.get_logger(__name__)

UNMATCHED = "<unmatched>"
# Probes and scrapes come every few seconds; their access lines are DEBUG, whatever the status.
QUIET_ROUTES = frozenset(
    {
        "/metrics",
        "/health",
        "/health/live",
        "/health/ready",
        "/healthz",
        "/healthz/live",
        "/healthz/ready",
        "/livez",
        "/readyz",
        "/ready",
        "/readiness",
    }
)
CLIENT_CLOSED = 499  # nginx's code for a client that left before the response started


def route_template(scope: Scope, status: int) -> str:
    """The matched route's path template; never the raw path (bounded label values)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    if isinstance(path, str):
        return path
    if status != 404 and scope.get("root_path"):
        return str(scope["root_path"])  # a mounted sub-application, by its prefix
    return UNMATCHED


class TelemetryMiddleware:
    """Measure, trace and log each HTTP request."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        method = scope["method"]
        method_label = method if method in metrics.HTTP_METHODS else "OTHER"
        status = 0

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        with tracing.server_span(
            method_label,
            scope["headers"],
            {"http.request.method": method_label, "url.path": scope["path"]},
        ) as span:
            try:
                await self.app(scope, receive, send_and_watch)
            except asyncio.CancelledError:
                status = status or CLIENT_CLOSED
                raise
            except Exception as exc:
                error_log.error("unhandled_error", path=scope["path"], exc_info=exc)
                if not status:
                    response = problem_response(500, "internal error", code="internal_error")
                    await response(scope, receive, send_and_watch)
                status = 500
            finally:
                self._record(scope, span, method_label, status or 500, started)

    @staticmethod
    def _record(
        scope: Scope, span: tracing.SpanLike, method: str, status: int, started: float
    ) -> None:
        duration = time.perf_counter() - started
        route = route_template(scope, status)
        metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
        metrics.HTTP_DURATION.labels(method, route).observe(duration)
        if tracing.enabled():
            span.update_name(f"{method} {route}")
            span.set_attribute("http.route", route)
            span.set_attribute("http.response.status_code", status)
            if status >= 500:
                tracing.set_error(span, str(status))
        fields = {
            "method": method,
            "route": route,
            "path": scope["path"],
            "status": status,
            "duration_ms": round(duration * 1000, 2),
        }
        if route in QUIET_ROUTES:  # a 503 while warming up is expected, not a warning
            log.debug("request_finished", **fields)
        elif status >= 500:
            log.warning("request_finished", **fields)
        else:
            log.info("request_finished", **fields)
