"""The application factory and its lifespan. Nothing runs at import time."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import timedelta

import structlog
from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware

from qna_agent import __version__
from qna_agent.api.errors import install_error_handlers
from qna_agent.api.middleware.body_limit import BodyLimitMiddleware
from qna_agent.api.middleware.request_id import RequestIdMiddleware
from qna_agent.api.middleware.security_headers import SecurityHeadersMiddleware
from qna_agent.api.middleware.telemetry import TelemetryMiddleware  # --- observability ---
from qna_agent.api.routes import chats, health, keys, knowledge, messages, openai_compat
from qna_agent.api.routes import metrics as metrics_route  # --- observability ---
from qna_agent.api.routes import web as web_page  # --- web page ---
from qna_agent.chat.turns import fail_stale_turns
from qna_agent.config import Settings, get_settings
from qna_agent.container import Services, build_services
from qna_agent.db import migrate
from qna_agent.observability import metrics, tracing  # --- observability ---
from qna_agent.observability.logging import configure_logging, secret_values
from qna_agent.security.idempotency import purge_expired
from qna_agent.shutdown import ShutdownDeadline

log = structlog.get_logger(__name__)

SWEEP_INTERVAL_SECONDS = 60.0
WARM_UP_RETRY_SECONDS = 2.0
# Orphaned turns are looked for every this many heartbeats (a read; a write only to fix rows).
SWEEP_HEARTBEATS = 2

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


async def _warm_up(services: Services) -> None:
    """Wait for the schema, then index the knowledge base; readiness waits for this."""
    waiting_logged = False
    while True:
        try:
            if await migrate.is_at_head(services.database):
                await services.knowledge.open()
                if services.settings.kb_sync_on_start:
                    await services.knowledge.sync()
                else:
                    services.knowledge.mark_loaded()
                return
            if not waiting_logged:
                log.warning("waiting_for_migrations", hint="run `qna-agent db upgrade`")
                waiting_logged = True
        except Exception as exc:  # the database may come up later; keep trying
            log.warning("warm_up_failed", error=f"{type(exc).__name__}: {exc}")
        await asyncio.sleep(WARM_UP_RETRY_SECONDS)


async def _sweep_stale_turns(services: Services) -> None:
    """Fail turns whose process died (their heartbeat stopped), every two heartbeats."""
    turns = services.turns
    while True:
        await asyncio.sleep(SWEEP_HEARTBEATS * turns.heartbeat.period)
        try:
            await fail_stale_turns(
                services.database, older_than=turns.stale_after, exclude=turns.running_ids()
            )
        except Exception as exc:  # a database outage must not kill the sweeper
            log.warning("stale_turn_sweep_failed", error=type(exc).__name__)


async def _resync_knowledge(services: Services) -> None:
    """Pick up changed and deleted files while serving (a ConfigMap update, a PVC edit)."""
    interval = services.settings.kb_sync_interval_seconds
    while interval > 0:
        await asyncio.sleep(interval)
        if not services.knowledge.loaded:
            continue
        try:
            await services.knowledge.sync()
        except Exception as exc:  # the next round may succeed; readiness shows DB trouble
            log.warning("knowledge_resync_failed", error=f"{type(exc).__name__}: {exc}")


async def _purge_idempotency_keys(services: Services) -> None:
    """Forget Idempotency-Keys past their time (security area)."""
    ttl = timedelta(seconds=services.settings.idempotency_ttl_seconds)
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        try:
            await purge_expired(services.database, ttl=ttl)
        except Exception as exc:  # an outage must not kill the sweeper
            log.warning("idempotency_purge_failed", error=type(exc).__name__)


async def _recover(services: Services) -> None:
    """Fail turns a crash left in progress: those whose heartbeat stopped. Younger ones may be
    running in a sibling worker or another replica; if not, the sweep fails them soon."""
    try:
        if await migrate.is_at_head(services.database):
            await fail_stale_turns(services.database, older_than=services.turns.stale_after)
    except Exception as exc:  # not ready yet: the periodic sweep will do it
        log.warning("turn_recovery_skipped", error=type(exc).__name__)


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
    await _recover(services)
    background = [
        asyncio.create_task(_warm_up(services), name="warm-up"),
        asyncio.create_task(_sweep_stale_turns(services), name="sweep-stale-turns"),
        asyncio.create_task(_resync_knowledge(services), name="resync-knowledge"),
        asyncio.create_task(_purge_idempotency_keys(services), name="purge-idempotency"),
    ]
    deadline = ShutdownDeadline(settings.shutdown_grace_seconds)
    loop = asyncio.get_running_loop()
    timers: list[asyncio.TimerHandle] = []

    def signalled() -> None:
        # From now on readiness says 503, and turns still running shortly before the deadline
        # are cancelled: stored as failed, their streams ended, before uvicorn stops waiting.
        services.draining = True
        cancel_in = max(0.0, deadline.remaining() - deadline.cancel_margin())
        timers.append(loop.call_later(cancel_in, services.turns.interrupt_all))
        log.info("shutdown_started", grace_seconds=deadline.grace_seconds)

    try:
        with deadline.on_signal(loop, signalled):
            yield
    finally:
        services.draining = True
        for timer in timers:
            timer.cancel()
        await services.turns.drain(max(0.0, deadline.remaining() - deadline.cancel_margin()))
        for task in background:
            task.cancel()
        await asyncio.gather(*background, return_exceptions=True)
        await services.close()
        # --- observability: export the last spans, drop this worker's live gauges ---
        tracing.flush()
        metrics.mark_process_dead()
        log.info("stopped")


def create_app(settings: Settings | None = None, *, services: Services | None = None) -> FastAPI:
    """Build the ASGI application (no I/O until the lifespan starts)."""
    settings = settings or (services.settings if services else get_settings())
    configure_logging(settings.log_level, settings.log_format, secrets=secret_values(settings))
    # --- observability: traces only when OTEL_* ask for them (before services: DB spans) ---
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
    app.include_router(openai_compat.router)  # agent tools: the OpenAI-compatible front door
    app.include_router(metrics_route.router)  # --- observability ---
    app.include_router(keys.router)

    web_page.install(app)  # --- web page: `/` and `/static` ---

    app.add_middleware(
        BodyLimitMiddleware,
        max_bytes=settings.max_request_bytes,
        large_paths={"/kb/documents": settings.kb_max_upload_bytes},
    )
    app.add_middleware(TelemetryMiddleware)  # --- observability: inside the request id ---
    app.add_middleware(RequestIdMiddleware)
    # --- security: headers on every response; CORS only for configured origins ---
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
