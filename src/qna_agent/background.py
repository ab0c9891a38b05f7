"""The work a serving process does besides answering requests: index the knowledge base once
the schema is there, fail turns whose process died, pick up changed documents, forget expired
Idempotency-Keys. The lifespan starts these loops and cancels them at shutdown; each survives
a database outage and tries again on its next round.
"""

from __future__ import annotations

import asyncio
from datetime import timedelta

import structlog

from qna_agent.chat.liveness import fail_stale_turns
from qna_agent.container import Services
from qna_agent.db import migrate
from qna_agent.security.idempotency import purge_expired

log = structlog.get_logger(__name__)

SWEEP_INTERVAL_SECONDS = 60.0
WARM_UP_RETRY_SECONDS = 2.0
# Orphaned turns are looked for every this many heartbeats (a read; a write only to fix rows).
SWEEP_HEARTBEATS = 2


def start(services: Services) -> list[asyncio.Task[None]]:
    """Start the background loops; the caller cancels them at shutdown."""
    return [
        asyncio.create_task(_warm_up(services), name="warm-up"),
        asyncio.create_task(_sweep_stale_turns(services), name="sweep-stale-turns"),
        asyncio.create_task(_resync_knowledge(services), name="resync-knowledge"),
        asyncio.create_task(_purge_idempotency_keys(services), name="purge-idempotency"),
    ]


async def recover(services: Services) -> None:
    """Fail turns a crash left in progress: those whose heartbeat stopped. Younger ones may be
    running in a sibling worker or another replica; if not, the sweep fails them soon."""
    try:
        if await migrate.is_at_head(services.database):
            await fail_stale_turns(services.database, older_than=services.engine.runner.stale_after)
    except Exception as exc:  # not ready yet: the periodic sweep will do it
        log.warning("turn_recovery_skipped", error=type(exc).__name__)


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
    turns = services.engine.runner
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
    """Forget Idempotency-Keys past their time."""
    ttl = timedelta(seconds=services.settings.idempotency_ttl_seconds)
    while True:
        await asyncio.sleep(SWEEP_INTERVAL_SECONDS)
        try:
            await purge_expired(services.database, ttl=ttl)
        except Exception as exc:  # an outage must not kill the sweeper
            log.warning("idempotency_purge_failed", error=type(exc).__name__)
