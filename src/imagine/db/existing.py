"""Open only a database `imagine serve` has already created: the admin commands never make
a fresh, empty one (a mistyped IMAGINE_DATA_DIR would otherwise hide every account)."""

from __future__ import annotations

import asyncio
from pathlib import Path

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy.engine import URL, Connection, make_url
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncEngine

from imagine.db.engine import create_engine
from imagine.db.migrate import alembic_config


class MissingDatabase(Exception):
    """No usable imagine database where the settings point."""


def describe(url: str) -> str:
    """The database for humans, without credentials: a SQLite file's path, else the URL with
    user, password and query (which may carry a password) left out."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database or parsed.database == ":memory:":
            return "SQLite in memory"
        return f"SQLite file {Path(parsed.database).resolve()}"
    bare = URL.create(
        parsed.drivername, host=parsed.host, port=parsed.port, database=parsed.database
    )
    return bare.render_as_string(hide_password=True)


def _no_sqlite_file(url: str) -> bool:
    """A SQLite URL whose file does not exist (opening it would create it), or in memory."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return False
    return (
        not parsed.database or parsed.database == ":memory:" or not Path(parsed.database).is_file()
    )


def _revision(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


async def open_existing(url: str) -> AsyncEngine:
    """An engine on the imagine database at `url`, migrated to this version's head.

    Raises MissingDatabase, without creating anything, when the SQLite file is missing, the
    database has no imagine schema, or its schema is not this version's.
    """
    where = describe(url)
    missing = (
        f"no imagine database at {where}; start `imagine serve` once, or set"
        " IMAGINE_DATA_DIR/IMAGINE_DATABASE_URL"
    )
    if await asyncio.to_thread(_no_sqlite_file, url):
        raise MissingDatabase(missing)
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            current = await conn.run_sync(_revision)
    except (DBAPIError, OSError) as exc:
        await engine.dispose()
        reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()
        raise MissingDatabase(
            f"cannot open the database at {where}: {reason[0] if reason else type(exc).__name__}"
        ) from exc
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if current is None:
        await engine.dispose()
        raise MissingDatabase(missing)
    if current != head:
        await engine.dispose()
        raise MissingDatabase(
            f"the imagine database at {where} is at schema revision {current}, this version"
            f" needs {head}; start `imagine serve` (or `imagine worker`) of this version once"
            " to migrate it"
        )
    return engine
