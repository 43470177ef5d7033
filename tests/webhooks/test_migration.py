"""Migration 0002 gives every existing account its own signing secret, and reverts cleanly."""

from __future__ import annotations

from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from imagine.db.engine import create_engine
from imagine.db.migrate import alembic_config, upgrade


async def test_backfills_signing_secrets_and_downgrades(database_url: str) -> None:
    engine = create_engine(database_url)

    def downgrade(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0001")

    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(downgrade)
        async with engine.begin() as conn:
            for n in range(3):
                await conn.execute(
                    text(
                        "INSERT INTO accounts (id, email, plan, credits, created_at)"
                        " VALUES (:id, :email, 'basic', 0, CURRENT_TIMESTAMP)"
                    ),
                    {"id": f"acc-{n}", "email": f"{n}@example.com"},
                )
        await upgrade(engine)
        async with engine.connect() as conn:
            found = (await conn.execute(text("SELECT signing_secret FROM accounts"))).scalars()
            secrets = list(found)
        assert len(secrets) == 3
        assert len(set(secrets)) == 3
        assert all(s.startswith("whsec_") and len(s) > 40 for s in secrets)
    finally:
        await engine.dispose()
