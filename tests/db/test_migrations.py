"""Migrations: they build exactly the schema the models describe, and downgrade cleanly."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from imagine.db.engine import create_engine
from imagine.db.migrate import alembic_config, upgrade
from imagine.db.schema import Base


async def test_migrations_match_models_and_round_trip(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)

        def diff(conn: Connection) -> list[Any]:
            return list(compare_metadata(MigrationContext.configure(conn), Base.metadata))

        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []

        def downgrade(conn: Connection) -> None:
            cfg = alembic_config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "base")

        def tables(conn: Connection) -> set[str]:
            return set(inspect(conn).get_table_names()) - {"alembic_version"}

        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.connect() as conn:
            assert await conn.run_sync(tables) == set()
        await upgrade(engine)
        async with engine.connect() as conn:
            assert await conn.run_sync(tables) == {t.name for t in Base.metadata.sorted_tables}
    finally:
        await engine.dispose()
