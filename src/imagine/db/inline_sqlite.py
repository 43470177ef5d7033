"""aiosqlite's connection API, run on the calling thread: no thread hop per statement.

aiosqlite runs each call on a worker thread of its own and hands the result back to the
event loop: two GIL hand-offs per call, and a short read session makes about six calls.
Profiled, that hand-off was most of the CPU of `/api/v1/account`. For reads on a SQLite
file in WAL mode that is not needed: a reader never waits for a writer (each statement
reads its own snapshot), and a primary-key lookup takes microseconds, so running it on the
event loop costs less than handing it to a thread. Writes keep aiosqlite's thread: they
may wait up to the busy timeout for the write lock, which must never block the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Generator
from typing import Any

import aiosqlite


class _RunNow:
    """Stands in for aiosqlite's queue to its worker thread: runs each call at once."""

    def put_nowait(self, item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except BaseException as error:  # handed to the awaiting caller, like aiosqlite does
            if future is not None and not future.done():
                future.set_exception(error)
            return
        if future is not None and not future.done():
            future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose calls run on the event-loop thread."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        # aiosqlite starts its worker thread here; this connection has none.
        return self._connect_inline().__await__()

    async def _connect_inline(self) -> InlineConnection:
        await self._connect()
        return self


def inline_connector(
    database: str, **kwargs: Any
) -> Callable[[], Coroutine[Any, Any, InlineConnection]]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect: opens inline connections."""

    async def connect() -> InlineConnection:
        return await InlineConnection(lambda: sqlite3.connect(database, **kwargs))

    return connect
