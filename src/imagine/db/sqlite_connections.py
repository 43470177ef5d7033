"""aiosqlite connections that cost one hand-off per statement, or none.

aiosqlite runs every call on a worker thread of its own and hands the result back to the
event loop, and SQLAlchemy's adapter makes four such calls per SELECT (open a cursor,
execute, fetch, close) and three per write: each a pair of GIL hand-offs. Profiled, those
hand-offs were most of the CPU of `/api/v1/account` and ~15 % of an edit's.

- `OneHopConnection`: a statement is one call on the worker thread (execute, fetch every
  row, close the cursor), and the adapter's fetch and close read what came back. Used for
  writes: they may wait on SQLite's write lock (busy timeout) and commit with an fsync,
  which must never block the event loop.
- `InlineConnection`: the same, run on the calling (event-loop) thread: no hand-off at
  all. For reads on a SQLite file in WAL mode only: a reader never waits for a writer
  (each statement reads its own snapshot) and a primary-key lookup takes microseconds.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable, Coroutine, Generator, Iterable, Sequence
from typing import Any

import aiosqlite


class OneHopCursor:
    """aiosqlite's cursor API; `execute` runs, fetches and closes in one call."""

    arraysize = 1

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn
        self._rows: list[Any] = []
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None

    async def __aenter__(self) -> OneHopCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    def _run(self, sql: str, parameters: Any, many: bool) -> None:
        cursor = self._conn._conn.cursor()
        try:
            if many:
                cursor.executemany(sql, parameters)
            else:
                cursor.execute(sql, parameters)
            self.description = cursor.description
            self._rows = cursor.fetchall() if cursor.description else []
            self.rowcount = cursor.rowcount
            self.lastrowid = cursor.lastrowid
        finally:
            cursor.close()

    async def execute(self, sql: str, parameters: Iterable[Any] | None = None) -> OneHopCursor:
        """Run `sql` and keep its rows (one call on the connection's thread)."""
        params = [] if parameters is None else parameters
        await self._conn._execute(self._run, sql, params, False)  # type: ignore[no-untyped-call]
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneHopCursor:
        """Run `sql` for each parameter set (one call)."""
        await self._conn._execute(self._run, sql, parameters, True)  # type: ignore[no-untyped-call]
        return self

    async def fetchall(self) -> list[Any]:
        """Every row not fetched yet (already here: no call)."""
        rows, self._rows = self._rows, []
        return rows

    async def fetchone(self) -> Any:
        """The next row, or None."""
        return self._rows.pop(0) if self._rows else None

    async def fetchmany(self, size: int | None = None) -> Sequence[Any]:
        """Up to `size` more rows."""
        count = self.arraysize if size is None else size
        rows, self._rows = self._rows[:count], self._rows[count:]
        return rows

    async def close(self) -> None:
        """Nothing to close: the sqlite3 cursor closed when its statement ran."""
        self._rows = []


class _CursorOpener:
    """What `connection.cursor()` returns: awaitable, and an async context manager."""

    def __init__(self, cursor: OneHopCursor) -> None:
        self._cursor = cursor

    def __await__(self) -> Generator[Any, None, OneHopCursor]:
        return self._cursor.__aenter__().__await__()

    async def __aenter__(self) -> OneHopCursor:
        return self._cursor

    async def __aexit__(self, *_exc: object) -> None:
        await self._cursor.close()


class OneHopConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose cursors cost one worker-thread call per statement."""

    def cursor(self) -> _CursorOpener:  # type: ignore[override]
        """A cursor, without a call to the worker thread."""
        return _CursorOpener(OneHopCursor(self))


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


class InlineConnection(OneHopConnection):
    """A `OneHopConnection` whose calls run on the event-loop thread (reads only)."""

    def __init__(self, connector: Callable[[], sqlite3.Connection]) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._tx = _RunNow()  # type: ignore[assignment]

    def __await__(self) -> Generator[Any, None, InlineConnection]:
        # aiosqlite starts its worker thread here; this connection has none.
        return self._connect_inline().__await__()

    async def _connect_inline(self) -> InlineConnection:
        await self._connect()
        return self


def connector(
    database: str, *, inline: bool, **kwargs: Any
) -> Callable[[], Coroutine[Any, Any, aiosqlite.Connection]]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect."""

    async def connect() -> aiosqlite.Connection:
        def open_file() -> sqlite3.Connection:
            opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
            return opened

        if inline:
            return await InlineConnection(open_file)
        conn = OneHopConnection(open_file, iter_chunk_size=64)
        conn._thread.daemon = True  # like SQLAlchemy's own aiosqlite connect
        return await conn

    return connect
