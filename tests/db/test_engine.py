"""The SQLite engines: reads run on the event loop (no thread hop), writes on aiosqlite's
thread, and both see the same file."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest
from sqlalchemy import event, text

from imagine.db.engine import create_engine, read_session_factory, session_factory


async def test_inline_reads_run_on_the_loop_thread_and_writes_do_not(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    writes, reads = create_engine(url), create_engine(url, inline=True)
    loop_thread = threading.get_ident()
    sql_threads: list[int] = []
    try:
        for engine in (writes, reads):
            # A SQL function records the thread each statement actually runs on.
            @event.listens_for(engine.sync_engine, "connect")
            def _fn(dbapi_conn: object, _record: object) -> None:
                dbapi_conn.create_function(  # type: ignore[attr-defined]
                    "whereami", 0, lambda: sql_threads.append(threading.get_ident()) or 0
                )

        async with session_factory(writes).begin() as session:
            await session.execute(text("CREATE TABLE t (v INTEGER)"))
            await session.execute(text("INSERT INTO t VALUES (1)"))

        async with read_session_factory(reads)() as session:
            value = await session.execute(text("SELECT v, whereami() FROM t"))
            assert value.one()[0] == 1
        assert sql_threads == [loop_thread]

        sql_threads.clear()
        async with session_factory(writes).begin() as session:
            await session.execute(text("UPDATE t SET v = 2 WHERE whereami() = 0"))
        assert sql_threads and loop_thread not in sql_threads

        async with read_session_factory(reads)() as session:
            assert (await session.execute(text("SELECT v FROM t"))).scalar_one() == 2
    finally:
        await writes.dispose()
        await reads.dispose()


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
