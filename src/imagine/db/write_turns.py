"""Writers of one SQLite file take turns in this process, first come first served.

SQLite has one write lock per file. Left to itself, a writer that finds it taken sleeps in
SQLite's busy handler (1, 2, 5 … 100 ms) and tries again: under a burst (thousands of
admissions) that is unfair, a waiter can miss every window until its busy timeout ends in
"database is locked", and every retry costs CPU on its own thread. Here a write
transaction first takes this process's turn (an asyncio lock: FIFO, free while waiting),
then `BEGIN IMMEDIATE`; the turn passes on when the connection goes back to the pool.
SQLite's busy timeout still covers other processes on the same file.

A turn is held per connection (a second BEGIN on the same connection does not wait for
itself) and per event loop (tests run a server loop in another thread). Waiting longer than
`timeout` raises ServiceBusy (503 with Retry-After), never a 500.
"""

from __future__ import annotations

import asyncio
import weakref
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine
from sqlalchemy.util import await_
from sqlalchemy.util.concurrency import in_greenlet

from imagine.errors import ServiceBusy

_HELD = "imagine_write_turn"  # connection-record info: (loop, lock) while a turn is held


class WriteTurns:
    """FIFO write turns for one engine's connections (one lock per event loop)."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout
        self._locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = (
            weakref.WeakKeyDictionary()
        )

    def take(self, conn: Connection) -> None:
        """Wait for this loop's turn (inside SQLAlchemy's greenlet), once per connection."""
        record_info = conn.info  # the pooled connection's own dict, as seen at checkin
        if _HELD in record_info or not in_greenlet():
            return
        loop = asyncio.get_running_loop()
        lock = self._locks.get(loop)
        if lock is None:
            lock = self._locks[loop] = asyncio.Lock()
        await_(self._acquire(lock))
        record_info[_HELD] = (loop, lock)

    async def _acquire(self, lock: asyncio.Lock) -> None:
        try:
            async with asyncio.timeout(self.timeout):
                await lock.acquire()
        except TimeoutError:
            raise ServiceBusy("Database busy, retry shortly") from None

    @staticmethod
    def give_back(record_info: dict[Any, Any]) -> None:
        """Pass the turn on (the connection went back to the pool, or was dropped)."""
        held = record_info.pop(_HELD, None)
        if held is None:
            return
        loop, lock = held
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is loop:
            lock.release()
        elif not loop.is_closed():
            loop.call_soon_threadsafe(lock.release)

    def install(self, engine: AsyncEngine) -> None:
        """Release the turn whenever a connection leaves its user."""
        pool = engine.sync_engine.pool

        @event.listens_for(pool, "checkin")
        def _checkin(_dbapi_conn: Any, record: Any) -> None:
            if record is not None:
                self.give_back(record.info)

        @event.listens_for(pool, "invalidate")
        def _invalidate(_dbapi_conn: Any, record: Any, _exc: Any) -> None:
            self.give_back(record.info)

        @event.listens_for(pool, "close")
        def _close(_dbapi_conn: Any, record: Any) -> None:
            self.give_back(record.info)
