"""Async engine and session factories.

SQLite gets WAL and a busy timeout; its write transactions start with `BEGIN IMMEDIATE`
(they queue for the write lock instead of failing half-way), while read-only sessions emit no
BEGIN at all (each statement is its own snapshot, in autocommit), so reads (the auth lookup,
/account, /fetch) never wait on writers and skip a round trip. Never write through them.
The pool is bounded and waits at most `pool_timeout` for a connection; the HTTP edge turns a
timeout into a 503 with Retry-After.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from imagine.db.sqlite_connections import connector
from imagine.db.write_turns import WriteTurns

_BEGIN = "imagine_begin"  # execution option: how a SQLite transaction starts
# A WAL reader waits on a lock only in rare moments (the WAL index being rebuilt); an
# inline read must not hold the event loop for long even then.
_READ_BUSY_S = 0.5


@dataclass(frozen=True)
class PoolLimits:
    """Connections per process and how long a request waits for one."""

    size: int = 10
    overflow: int = 20
    timeout: float = 10.0
    lock_timeout: float = 30.0  # SQLite: a write's wait for the write lock


def create_engine(url: str, pool: PoolLimits | None = None, *, inline: bool = False) -> AsyncEngine:
    """Create the async engine for `url`, preparing SQLite for concurrent use.

    `inline` (a SQLite file, read sessions only): statements run on the event loop instead
    of aiosqlite's thread (see `inline_sqlite`); never write through such an engine.
    """
    limits = pool or PoolLimits()
    sizing: dict[str, Any] = {
        "pool_size": limits.size,
        "max_overflow": limits.overflow,
        "pool_timeout": limits.timeout,
        # Database errors and echo logs never show bound values (webhook secrets, hashes).
        "hide_parameters": True,
    }
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return create_async_engine(url, pool_pre_ping=True, **sizing)

    memory = not parsed.database or parsed.database == ":memory:"
    if not memory:
        Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
    if memory:
        sizing = {"hide_parameters": True}
        engine = create_async_engine(url, connect_args={"timeout": limits.lock_timeout}, **sizing)
    else:
        # Our own aiosqlite connections: one thread hand-off per statement (writes), none
        # at all for `inline` reads; see sqlite_connections. A pooled connection may be
        # used by another thread's loop later (tests run a server in a thread); the pool
        # hands it to one user at a time.
        creator = connector(
            parsed.database or "",
            inline=inline,
            write_wait_ms=int(limits.lock_timeout * 1000),
            timeout=_READ_BUSY_S if inline else limits.lock_timeout,
            check_same_thread=False,
        )
        engine = create_async_engine(url, async_creator=creator, **sizing)
    if inline:
        busy_ms = int(_READ_BUSY_S * 1000)
    elif memory:
        busy_ms = int(limits.lock_timeout * 1000)
    else:
        busy_ms = 0  # statements run on the loop; a BEGIN that must wait moves to the thread
    turns = None
    if not inline and not memory:
        turns = WriteTurns(timeout=limits.lock_timeout)
        turns.install(engine)

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_conn: Any, _record: Any) -> None:
        # Let SQLAlchemy, not the driver, decide when transactions begin (see _on_begin).
        dbapi_conn.isolation_level = None
        cursor = dbapi_conn.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={busy_ms}")
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so a read-then-write transaction waits
        # for its turn instead of failing with SQLITE_BUSY half-way; reads need no lock.
        mode = conn.get_execution_options().get(_BEGIN, "IMMEDIATE")
        if mode != "DEFERRED":
            if turns is not None:
                turns.take(conn)  # this process's writers queue here, in order
            conn.exec_driver_sql("BEGIN IMMEDIATE")

    return engine


def session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions that keep loaded objects usable after commit (for writes and mixed use)."""
    return async_sessionmaker(engine, expire_on_commit=False)


def read_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    """Sessions for reads only: on SQLite they never take the write lock."""
    return async_sessionmaker(
        engine.execution_options(**{_BEGIN: "DEFERRED"}), expire_on_commit=False
    )
