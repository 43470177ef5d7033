"""The SQLite engines: statements run on the event loop (no thread hop), a write's COMMIT
and a BEGIN that must wait on aiosqlite's thread, and both engines see the same file."""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event, text
from sqlalchemy.engine.interfaces import AdaptedConnection
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.db.busy import database_busy
from imagine.db.engine import PoolLimits, create_engine, read_session_factory, session_factory
from imagine.errors import ServiceBusy


async def test_statements_run_on_the_loop_thread_and_commits_do_not(tmp_path: Path) -> None:
    """Reads run on the event loop; so do a write transaction's statements (it holds the
    write lock for one hand-off); its COMMIT, which syncs the WAL, runs on the thread."""
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    writes, reads = create_engine(url), create_engine(url, inline=True)
    loop_thread = threading.get_ident()
    ran: list[tuple[str, bool]] = []  # (statement, on the loop thread)

    def trace(sql: str) -> None:
        ran.append((sql.split()[0].upper(), threading.get_ident() == loop_thread))

    try:
        for engine in (writes, reads):
            # SQLite reports each statement it runs, on the thread that runs it.
            @event.listens_for(engine.sync_engine, "connect")
            def _trace(dbapi_conn: AdaptedConnection, _record: object) -> None:
                dbapi_conn.run_async(lambda conn: conn.set_trace_callback(trace))

        async with session_factory(writes).begin() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
        ran.clear()

        async with read_session_factory(reads)() as session:
            assert (await session.execute(text("SELECT v FROM t"))).scalar_one() == 1
        assert ran == [("SELECT", True)]

        ran.clear()
        async with session_factory(writes).begin() as session:
            await session.execute(text("UPDATE t SET v = 2"))
            await session.execute(text("INSERT INTO t VALUES (5)"))
        assert ran == [("BEGIN", True), ("UPDATE", True), ("INSERT", True), ("COMMIT", False)]

        async with read_session_factory(reads)() as session:
            values = (await session.execute(text("SELECT v FROM t ORDER BY v"))).scalars()
            assert list(values) == [2, 5]
    finally:
        await writes.dispose()
        await reads.dispose()


@contextlib.asynccontextmanager
async def another_writer(
    tmp_path: Path, lock_timeout: float
) -> AsyncIterator[tuple[async_sessionmaker[AsyncSession], sqlite3.Connection]]:
    """A file with table `t`, our sessions on it, and another process's connection (a
    separate worker, another replica) holding the write lock."""
    path = tmp_path / "x.db"
    engine = create_engine(f"sqlite+aiosqlite:///{path}", PoolLimits(lock_timeout=lock_timeout))
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            await session.execute(text("CREATE TABLE t (i INTEGER)"))
        other = sqlite3.connect(path, isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        try:
            yield sessions, other
        finally:
            if other.in_transaction:
                other.execute("ROLLBACK")
            other.close()
    finally:
        await engine.dispose()


async def test_a_begin_that_waits_for_another_process_leaves_the_loop_free(
    tmp_path: Path,
) -> None:
    async with another_writer(tmp_path, lock_timeout=10) as (sessions, other):
        ticks = 0

        async def write() -> None:
            async with sessions.begin() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))

        async def tick() -> None:
            nonlocal ticks
            for _ in range(30):
                await asyncio.sleep(0.01)
                ticks += 1

        writer = asyncio.create_task(write())
        started = time.monotonic()
        await tick()  # ~0.3 s while the writer waits for the lock on its thread
        assert time.monotonic() - started < 3.0  # the loop was never held for the wait
        assert not writer.done()
        other.execute("ROLLBACK")
        await asyncio.wait_for(writer, 5)
        assert ticks == 30
        async with sessions() as session:
            assert (await session.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1
        # The busy timeout is back to zero: the next write's BEGIN runs on the loop again.
        async with sessions.begin() as session:
            await session.execute(text("INSERT INTO t VALUES (2)"))
            busy = (await session.execute(text("PRAGMA busy_timeout"))).scalar_one()
        assert busy == 0


async def test_an_inline_read_is_not_blocked_by_a_writer(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    writes, reads = create_engine(url), create_engine(url, inline=True)
    try:
        async with session_factory(writes).begin() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))
        async with session_factory(writes).begin() as writer:  # holds the write lock
            await writer.execute(text("UPDATE t SET v = 3"))
            async with read_session_factory(reads)() as session:
                # WAL: the reader sees the last commit, without waiting for the writer.
                assert (await session.execute(text("SELECT v FROM t"))).scalar_one() == 1
    finally:
        await writes.dispose()
        await reads.dispose()


@pytest.mark.parametrize("inline", [False, True])
async def test_memory_databases_ignore_inline(inline: bool) -> None:
    engine = create_engine("sqlite+aiosqlite://", inline=inline)
    try:
        async with read_session_factory(engine)() as session:
            assert (await session.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await engine.dispose()


async def test_writers_take_turns_in_order_and_a_long_wait_is_busy(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    engine = create_engine(url, PoolLimits(size=20, overflow=0, lock_timeout=0.3))
    sessions = session_factory(engine)
    try:
        async with sessions.begin() as session:
            await session.execute(text("CREATE TABLE t (i INTEGER)"))
        started: list[int] = []

        async def write(i: int) -> None:
            async with sessions.begin() as session:
                started.append(i)
                await asyncio.sleep(0.001)  # other writers queue meanwhile
                await session.execute(text("INSERT INTO t VALUES (:i)"), {"i": i})

        await asyncio.gather(*(write(i) for i in range(15)))
        async with sessions() as session:
            count = (await session.execute(text("SELECT count(*) FROM t"))).scalar_one()
        assert count == 15
        assert sorted(started) == list(range(15))

        # A writer that keeps its transaction open: the next one waits its turn, then 503s.
        async with sessions.begin() as holder:
            await holder.execute(text("INSERT INTO t VALUES (100)"))
            with pytest.raises(ServiceBusy):
                async with sessions.begin() as session:
                    await session.execute(text("INSERT INTO t VALUES (101)"))
        # The turn passed on when the holder's connection went back to the pool.
        async with sessions() as session:
            await session.execute(text("INSERT INTO t VALUES (102)"))
            # The same connection commits and writes again: it does not wait for itself.
            await session.commit()
            await session.execute(text("INSERT INTO t VALUES (103)"))
            await session.commit()
        async with sessions() as session:
            rows = (await session.execute(text("SELECT i FROM t WHERE i >= 100"))).scalars()
            assert sorted(rows) == [100, 102, 103]
    finally:
        await engine.dispose()


async def test_another_process_holding_the_lock_is_busy_not_a_crash(tmp_path: Path) -> None:
    async with another_writer(tmp_path, lock_timeout=0.2) as (sessions, other):
        with pytest.raises(OperationalError) as caught:
            async with sessions.begin() as session:
                await session.execute(text("INSERT INTO t VALUES (1)"))
        assert database_busy(caught.value)
        other.execute("ROLLBACK")
        async with sessions.begin() as session:  # the lock is free again: writes work
            await session.execute(text("INSERT INTO t VALUES (2)"))
