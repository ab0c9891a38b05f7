"""The SQLite side of units of work: reader and writer threads, and the write lock.

A unit of work is a function of a Connection, run in one trip to the database.

The hot path (starting and storing a turn, searching the knowledge base) runs a handful of short
statements per request. Through the async drivers each statement costs several hand-overs:
on SQLite, aiosqlite sends every cursor call to its thread and back (measured: 120 us of CPU
for `SELECT 1`, against 1 us for the statement itself), and SQLAlchemy's async session adds its
greenlet switches. A unit of work is a plain synchronous function of a `Connection`, so the
same code runs:

- on SQLite, whole, in one worker thread with a synchronous `pysqlite` connection: one
  hand-over per unit. Writes go to a single writer thread and take the process's write lock,
  which the async write sessions take too, so writers queue in order instead of meeting in
  SQLite's busy handler (sleeps of 1-100 ms);
- on PostgreSQL, through `AsyncConnection.run_sync` on the event loop (asyncpg needs no
  thread).
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import weakref
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.pool import ConnectionPoolEntry

T = TypeVar("T")
Work = Callable[[Connection], T]


class WriteLock:
    """One writer at a time in this process, per event loop (asyncio locks belong to a loop)."""

    def __init__(self) -> None:
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    @asynccontextmanager
    async def held(self) -> AsyncIterator[None]:
        """Hold the lock for the block."""
        lock = self._locks.setdefault(asyncio.get_running_loop(), asyncio.Lock())
        async with lock:
            yield


class SqliteWorkers:
    """Synchronous SQLite engines and the threads that run units of work on them."""

    def __init__(
        self,
        url: str,
        *,
        readers: int,
        configure: Callable[[Any, ConnectionPoolEntry], None],
        connect_args: dict[str, Any],
    ) -> None:
        sync_url = make_url(url).set(drivername="sqlite+pysqlite")
        self.read_engine = self._engine(sync_url, readers, configure, connect_args, "BEGIN")
        self.write_engine = self._engine(sync_url, 1, configure, connect_args, "BEGIN IMMEDIATE")
        self._readers = ThreadPoolExecutor(readers, thread_name_prefix="qna-db-read")
        self._writer = ThreadPoolExecutor(1, thread_name_prefix="qna-db-write")

    @staticmethod
    def _engine(
        url: Any,
        size: int,
        configure: Callable[[Any, ConnectionPoolEntry], None],
        connect_args: dict[str, Any],
        begin_sql: str,
    ) -> Engine:
        engine = create_engine(
            url,
            pool_size=size,
            max_overflow=0,
            connect_args={**connect_args, "check_same_thread": False},
            hide_parameters=True,
        )
        event.listen(engine, "connect", configure)

        @event.listens_for(engine, "begin")
        def _begin(conn: Any) -> None:
            conn.exec_driver_sql(begin_sql)

        return engine

    async def read(self, work: Work[T]) -> T:
        """Run `work` on a read connection in a reader thread."""
        return await self._submit(self._readers, self._read, work)

    async def write(self, work: Work[T]) -> T:
        """Run `work` in a write transaction (BEGIN IMMEDIATE) in the writer thread."""
        return await self._submit(self._writer, self._write, work)

    @staticmethod
    async def _submit(pool: ThreadPoolExecutor, runner: Callable[[Work[T]], T], work: Work[T]) -> T:
        # The thread sees the caller's context: log fields and the current trace span.
        context = contextvars.copy_context()
        call = functools.partial(context.run, runner, work)
        return await asyncio.get_running_loop().run_in_executor(pool, call)

    def _read(self, work: Work[T]) -> T:
        # Returned to the pool, the connection rolls its read transaction back: no WAL
        # snapshot stays pinned between units.
        with self.read_engine.connect() as conn:
            return work(conn)

    def _write(self, work: Work[T]) -> T:
        with self.write_engine.begin() as conn:
            return work(conn)

    def dispose(self) -> None:
        """Stop the threads and close the connections."""
        self._readers.shutdown(wait=True)
        self._writer.shutdown(wait=True)
        self.read_engine.dispose()
        self.write_engine.dispose()
