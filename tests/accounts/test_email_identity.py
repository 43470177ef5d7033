"""Admin lookups by email hit exactly one account: NFKC + casefold identity, stored unique."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import admin
from imagine.accounts import repository as accounts_repo
from imagine.accounts.emails import email_key
from imagine.admin import AdminError
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import alembic_config, upgrade
from imagine.webhooks import admin as webhooks_admin

Sessions = async_sessionmaker[AsyncSession]
KELVIN = "\u212a"  # KELVIN SIGN: NFKC turns it into "K"


@pytest.fixture
async def sessions(database_url: str) -> AsyncIterator[Sessions]:
    engine = create_engine(database_url)
    await upgrade(engine)
    try:
        yield session_factory(engine)
    finally:
        await engine.dispose()


async def _email_of(sessions: Sessions, raw_key: str) -> str:
    async with sessions() as session:
        account = await accounts_repo.account_for_key(session, raw_key)
        assert account is not None
        return account.email


def test_the_identity_folds_case_and_compatibility_forms() -> None:
    assert email_key("Émile@X.org") == email_key("émile@x.org") == "émile@x.org"
    assert email_key("E\u0301mile@x.org") == "émile@x.org"  # decomposed accent
    assert email_key(f"{KELVIN}ate@x.org") == email_key("kate@x.org") == "kate@x.org"
    assert email_key("STRASSE@x.org") == email_key("straße@x.org")


@pytest.mark.parametrize(
    ("first", "second"),
    [("Émile@x.org", "émile@x.org"), ("kate@x.org", f"{KELVIN}ate@x.org")],
)
async def test_a_second_account_of_the_same_identity_is_refused(
    sessions: Sessions, first: str, second: str
) -> None:
    clock = FakeClock()
    await admin.create_account(sessions, clock, email=first, credits=0, plan="basic")
    with pytest.raises(AdminError, match="already exists") as refused:
        await admin.create_account(sessions, clock, email=second, credits=0, plan="basic")
    assert repr(first) in str(refused.value) and "same address" in str(refused.value)


async def test_the_unique_key_refuses_a_duplicate_even_without_the_admin_check(
    sessions: Sessions,
) -> None:
    clock = FakeClock()
    await admin.create_account(sessions, clock, email="Émile@x.org", credits=0, plan="basic")
    with pytest.raises(IntegrityError):
        async with sessions.begin() as session:
            await accounts_repo.create_account(
                session, email="émile@x.org", plan="basic", credits=0, now=clock.now()
            )


async def test_lookups_resolve_every_spelling_to_the_one_account(sessions: Sessions) -> None:
    clock = FakeClock()
    await admin.create_account(sessions, clock, email="Émile@x.org", credits=5, plan="basic")
    await admin.create_account(sessions, clock, email="kate@x.org", credits=7, plan="basic")
    assert await admin.add_credits(sessions, clock, email="ÉMILE@X.ORG", amount=1) == 6
    assert await admin.add_credits(sessions, clock, email=f"{KELVIN}ate@x.org", amount=1) == 8
    assert (await admin.show_account(sessions, email="émile@x.org")).email == "Émile@x.org"
    key = await admin.new_key(sessions, clock, email="e\u0301mile@x.org")
    assert await _email_of(sessions, key) == "Émile@x.org"
    secret = await webhooks_admin.rotate_secret(
        sessions, clock, email="KATE@x.org", grace=timedelta(hours=1)
    )
    assert (await admin.show_account(sessions, email="kate@x.org")).signing_secret == secret
    with pytest.raises(AdminError, match="no account"):
        await admin.add_credits(sessions, clock, email="emile@x.org", amount=1)  # no accent


async def test_migration_backfills_the_key_and_refuses_ambiguous_accounts(
    database_url: str,
) -> None:
    engine = create_engine(database_url)

    def to_0002(connection: Connection) -> None:
        cfg = alembic_config()
        cfg.attributes["connection"] = connection
        command.downgrade(cfg, "0002")

    insert = text(
        "INSERT INTO accounts (id, email, plan, credits, created_at, signing_secret)"
        " VALUES (:id, :email, 'basic', 0, CURRENT_TIMESTAMP, 'whsec_x')"
    )
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await conn.run_sync(to_0002)
            await conn.execute(insert, {"id": "a", "email": "Émile@x.org"})
            await conn.execute(insert, {"id": "b", "email": "émile@x.org"})
        with pytest.raises(RuntimeError, match=r"'Émile@x.org' \(id a\), 'émile@x.org' \(id b\)"):
            await upgrade(engine)
        async with engine.begin() as conn:
            await conn.execute(text("UPDATE accounts SET email = 'emile2@x.org' WHERE id = 'b'"))
        await upgrade(engine)
        async with engine.connect() as conn:
            rows = (await conn.execute(text("SELECT id, email_key FROM accounts"))).all()
        assert sorted(map(tuple, rows)) == [("a", "émile@x.org"), ("b", "emile2@x.org")]
    finally:
        await engine.dispose()
