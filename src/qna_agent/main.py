"""The application factory and its lifespan. Nothing runs at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from qna_agent import __version__, background
from qna_agent.api.errors import install_error_handlers
from qna_agent.api.middleware.body_limit import BodyLimitMiddleware
from qna_agent.api.middleware.request_id import RequestIdMiddleware
from qna_agent.api.middleware.security_headers import SecurityHeadersMiddleware
from qna_agent.api.middleware.telemetry import TelemetryMiddleware
from qna_agent.api.openai import routes as openai_routes
from qna_agent.api.routes import chats, health, keys, knowledge, messages
from qna_agent.api.routes import metrics as metrics_route
from qna_agent.api.routes import web as web_page
from qna_agent.config import Settings, get_settings
from qna_agent.container import Services, build_services
from qna_agent.db import migrate
from qna_agent.observability import metrics, tracing
from qna_agent.observability.logging import configure_logging, secret_values
from qna_agent.shutdown import ShutdownDeadline

log = structlog.get_logger(__name__)

CORS_REQUEST_HEADERS = [
    "Authorization",
    "X-API-Key",
    "Content-Type",
    "Accept",
    "Idempotency-Key",
    "X-Request-ID",
]
CORS_RESPONSE_HEADERS = [
    "X-Request-ID",
    "Retry-After",
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Idempotent-Replayed",
]

DESCRIPTION = """
Ask questions in chats; the agent answers from your documents, with citations.

* `POST /chats` then `POST /chats/{id}/messages` with `{"content": "..."}`.
* Send `Accept: text/event-stream` (or `?stream=true`) to stream the answer as Server-Sent Events.
* Errors are RFC 9457 `application/problem+json`.
"""


@contextlib.asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    """Start-up: migrate (if enabled), recover, index in the background. Shutdown: drain."""
    services: Services = app.state.services
    settings = services.settings
    log.info(
        "starting",
        version=__version__,
        environment=settings.environment,
        llm_provider=services.model.provider,
        llm_model=services.model.model,
        database=services.database.engine.dialect.name,
    )
    if settings.auto_migrate:
        await migrate.upgrade(services.database)
    await background.recover(services)
    loops = background.start(services)
    deadline = ShutdownDeadline(settings.shutdown_grace_seconds)
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []

    def signalled() -> None:
        # From now on readiness says 503, and turns still running shortly before the deadline
        # are cancelled: stored as failed, their streams ended, before uvicorn stops waiting.
        services.draining = True
        cancel_in = max(0.0, deadline.remaining() - deadline.cancel_margin())
        timers.append(loop.call_later(cancel_in, services.engine.runner.interrupt_all))
        log.info("shutdown_started", grace_seconds=deadline.grace_seconds)

    try:
        with deadline.on_signal(loop, signalled):
            yield
    finally:
        services.draining = True
        for timer in timers:
            timer.cancel()
        await services.engine.runner.drain(
            max(0.0, deadline.remaining() - deadline.cancel_margin())
        )
        for task in loops:
            task.cancel()
        await asyncio.gather(*loops, return_exceptions=True)
        await services.close()
        # Export the last spans and drop this worker's live gauges, now that nothing runs.
        tracing.flush()
        metrics.mark_process_dead()
        log.info("stopped")


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the ASGI application (no I/O until the lifespan starts)."""
    settings = settings or (services.settings if services else get_settings())
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    # Traces only when OTEL_* ask for them; before the services, so DB spans are traced too.
    tracing.configure_from_environment()
    metrics.configure_metrics()
    app = FastAPI(
        title="qna-agent",
        version=__version__,
        summary="Question answering over your documents, with citations.",
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    app.state.services = services or build_services(settings)
    install_error_handlers(app)
    app.include_router(health.router)
    app.include_router(chats.router)
    app.include_router(messages.router)
    app.include_router(knowledge.router)
    app.include_router(openai_routes.router)
    app.include_router(metrics_route.router)
    app.include_router(keys.router)

    web_page.install(app)  # `/` and `/static`

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        large_paths={"/kb/documents": settings.kb_max_upload_bytes},
    )
    app.add_middleware(TelemetryMiddleware)  # inside the request id, so its lines carry it
    app.add_middleware(RequestIdMiddleware)
    # Headers on every response, refusals included; CORS only for configured origins.
    app.add_middleware(SecurityHeadersMiddleware)
    if settings.cors_origin_list:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origin_list,
            allow_methods=["GET", "POST", "PATCH", "DELETE"],
            allow_headers=CORS_REQUEST_HEADERS,
            expose_headers=CORS_RESPONSE_HEADERS,
            max_age=600,
        )
    return app
