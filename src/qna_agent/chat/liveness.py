"""Which in-progress turns are alive: a heartbeat for the turns of this process, and a sweep that
fails the turns of processes that died.

Every few seconds a process touches `updated_at` of all the turns it runs, in one UPDATE, so an
`in_progress` row whose `updated_at` is several periods old belongs to nobody: a crashed or
killed process, on this machine or another replica. Start-up recovery and the periodic sweep
fail only such rows, so the live turns of sibling workers and replicas are never touched, and
an orphan is failed within a few periods instead of after a whole turn timeout.

The same beat carries stop requests across processes: `POST .../cancel` sets the `error` of an
in-progress row, and the process running it sees that at its next beat and cancels the turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import uuid
from collections.abc import Callable, Collection
from datetime import timedelta

import structlog

from qna_agent.chat import repository
from qna_agent.chat.events import INTERRUPTED
from qna_agent.db.base import utcnow
from qna_agent.db.engine import Database

log = structlog.get_logger(__name__)

DEFAULT_HEARTBEAT_SECONDS = 3.0
# A heartbeat this many periods old is dead, not late: a busy SQLite writer or a slow beat can
# delay one or two periods, never five.
STALE_HEARTBEATS = 5


def stale_after(heartbeat_seconds: float) -> timedelta:
    """The age past which an in-progress turn's heartbeat means its process is gone."""
    return timedelta(seconds=STALE_HEARTBEATS * heartbeat_seconds)


class Heartbeat:
    """Beats while this process runs turns; stops by itself when none is left."""

    def __init__(
        self,
        database: Database,
        *,
        period: float,
        running: Callable[[], Collection[uuid.UUID]],
        stop: Callable[[uuid.UUID], None],
    ) -> None:
        self._database = database
        self.period = period
        self._running = running
        self._stop = stop
        self._task: asyncio.Task[None] | None = None

    def ensure_started(self) -> None:
        """Start beating, unless already beating."""
        if self._task is None or self._task.done():
            # A fresh context: the beat belongs to no request, so it carries no request id.
            self._task = asyncio.create_task(
                self._beat_while_running(), name="turn-heartbeat", context=contextvars.Context()
            )

    async def _beat_while_running(self) -> None:
        while self._running():
            await asyncio.sleep(self.period)
            try:
                await self.beat()
            except Exception as exc:  # a database blip: the next beat tries again
                log.warning("turn_heartbeat_failed", error=type(exc).__name__)

    async def beat(self) -> None:
        """Mark this process's turns alive and stop those another process asked to stop."""
        ids = list(self._running())
        if not ids:
            return
        async with self._database.write_sessions.begin() as session:
            asked = await repository.touch_turns(session, message_ids=ids, now=utcnow())
        for message_id in asked:
            log.info("turn_stop_requested", message_id=str(message_id))
            self._stop(message_id)

    async def aclose(self) -> None:
        """Stop beating."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


async def fail_stale_turns(
    database: Database, *, older_than: timedelta, exclude: Collection[uuid.UUID] = ()
) -> int:
    """Mark turns whose heartbeat is older than `older_than` as failed (interrupted), except
    `exclude` (this process's own); returns how many."""
    cutoff = utcnow() - older_than
    # Most sweeps find nothing: look first, so SQLite's write lock is taken only to fix rows.
    async with database.sessions() as session:
        if not await repository.count_stale_turns(session, updated_before=cutoff, exclude=exclude):
            return 0
    async with database.write_sessions.begin() as session:
        count = await repository.fail_stale_turns(
            session, updated_before=cutoff, reason=INTERRUPTED, exclude=exclude
        )
    if count:
        log.warning("stale_turns_failed", count=count)
    return count
