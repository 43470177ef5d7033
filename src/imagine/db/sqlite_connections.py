"""aiosqlite connections that cost one hand-off per statement, or none.

aiosqlite runs every call on a worker thread of its own and hands the result back to the
event loop, and SQLAlchemy's adapter makes four such calls per SELECT (open a cursor,
execute, fetch, close) and three per write: each a pair of GIL hand-offs. Profiled, those
hand-offs were most of the CPU of `/api/v1/account` and ~15 % of an edit's.

- `OneHopConnection`: a statement is one call on the worker thread (execute, fetch every
  row, close the cursor), and the adapter's fetch and close read what came back.
- `LoopWriteConnection` (writes): statements on the event loop inside `BEGIN IMMEDIATE`;
  only what may block (COMMIT's sync, a BEGIN that waits for another process, PRAGMAs)
  costs a hand-off.
- `InlineConnection`: everything on the calling (event-loop) thread: no hand-off at all.
  For reads on a SQLite file in WAL mode only: a reader never waits for a writer (each
  statement reads its own snapshot) and a primary-key lookup takes microseconds.
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

    def __init__(self, conn: OneHopConnection) -> None:
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
        """Run `sql` and keep its rows (at most one call on the connection's thread)."""
        params = [] if parameters is None else parameters
        await self._conn.run_statement(self._run, sql, params, False)
        return self

    async def executemany(self, sql: str, parameters: Iterable[Iterable[Any]]) -> OneHopCursor:
        """Run `sql` for each parameter set (one call)."""
        await self._conn.run_statement(self._run, sql, parameters, True)
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


Statement = Callable[[str, Any, bool], None]  # OneHopCursor._run


class OneHopConnection(aiosqlite.Connection):
    """An `aiosqlite.Connection` whose cursors cost one worker-thread call per statement."""

    def cursor(self) -> _CursorOpener:  # type: ignore[override]
        """A cursor, without a call to the worker thread."""
        return _CursorOpener(OneHopCursor(self))

    async def run_statement(self, run: Statement, sql: str, params: Any, many: bool) -> None:
        """Run one statement: here, one call on the connection's thread."""
        await self._execute(run, sql, params, many)  # type: ignore[no-untyped-call]


def _locked(error: sqlite3.OperationalError) -> bool:
    return "locked" in str(error) or "busy" in str(error)


class LoopWriteConnection(OneHopConnection):
    """Writes that hold SQLite's write lock for one thread hand-off, not one per statement.

    Its statements run on the event loop: inside `BEGIN IMMEDIATE` this process holds the
    write lock, so an INSERT or UPDATE never waits and takes microseconds. Only what may
    block goes to the connection's thread: COMMIT (it syncs the WAL to disk), the
    connection's PRAGMAs (at connect), and a BEGIN that finds another process writing (it
    is tried on the loop with a zero busy timeout first, then waited for on the thread with
    `wait_ms`). Under a burst this matters more than the CPU: with a hand-off per statement
    a transaction held the lock across ~6 turns of a busy event loop, so admissions and
    finishes queued behind each other for tens of seconds.
    """

    def __init__(self, connector: Callable[[], sqlite3.Connection], wait_ms: int) -> None:
        super().__init__(connector, iter_chunk_size=64)
        self._wait_ms = wait_ms

    async def run_statement(self, run: Statement, sql: str, params: Any, many: bool) -> None:
        """On the loop; BEGIN waiting for another process and PRAGMAs on the thread."""
        head = sql.lstrip()[:6].upper()
        if head.startswith("PRAGMA"):
            await super().run_statement(run, sql, params, many)
            return
        try:
            run(sql, params, many)
        except sqlite3.OperationalError as error:
            if not (head.startswith("BEGIN") and _locked(error)):
                raise
            await self._execute(self._begin_waiting, run, sql, params)  # type: ignore[no-untyped-call]

    def _begin_waiting(self, run: Statement, sql: str, params: Any) -> None:
        conn = self._conn
        conn.execute(f"PRAGMA busy_timeout={self._wait_ms}")
        try:
            run(sql, params, False)
        finally:
            conn.execute("PRAGMA busy_timeout=0")

    async def rollback(self) -> None:
        """Roll back on the loop: it discards, it does not sync (and is a no-op outside a
        transaction, as on every return to the pool)."""
        self._conn.rollback()


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
    database: str, *, inline: bool, write_wait_ms: int = 0, **kwargs: Any
) -> Callable[[], Coroutine[Any, Any, aiosqlite.Connection]]:
    """An `async_creator` for SQLAlchemy's aiosqlite dialect: `inline` reads, or writes
    (`LoopWriteConnection`, whose BEGIN waits up to `write_wait_ms` for another process)."""

    async def connect() -> aiosqlite.Connection:
        def open_file() -> sqlite3.Connection:
            opened: sqlite3.Connection = sqlite3.connect(database, **kwargs)
            return opened

        if inline:
            return await InlineConnection(open_file)
        conn = LoopWriteConnection(open_file, write_wait_ms)
        conn._thread.daemon = True  # like SQLAlchemy's own aiosqlite connect
        return await conn

    return connect
