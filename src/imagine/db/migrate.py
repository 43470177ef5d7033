"""Run Alembic migrations programmatically on an async engine (on start and in tests)."""

from __future__ import annotations

from alembic import command
from alembic.config import Config
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine


def alembic_config() -> Config:
    """Alembic configuration pointing at the migrations packaged with imagine."""
    cfg = Config()
    cfg.set_main_option("script_location", "imagine.db:migrations")
    return cfg


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the schema up to `revision` using the engine's own connection."""

    def _run(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.upgrade(cfg, revision)

    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Several processes (API replicas, workers) may start at once on one database.
            await conn.execute(text("SELECT pg_advisory_xact_lock(726173001)"))
        await conn.run_sync(_run)
