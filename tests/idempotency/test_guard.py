"""IdempotencyGuard against real databases: lost claims are taken over, expired keys swept."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from imagine import admin
from imagine.accounts import repository as accounts_repo
from imagine.clock import FakeClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import IdempotencyKey
from imagine.idempotency.guard import (
    IdempotencyGuard,
    IdempotentRequest,
    KeyInProgress,
    Outcome,
    sweep_expired_keys,
)


@dataclass
class Setup:
    guard: IdempotencyGuard
    account_id: str
    clock: FakeClock


@pytest.fixture
async def setup(database_url: str) -> AsyncIterator[Setup]:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        clock = FakeClock()
        raw = await admin.create_account(
            sessions, clock, email="g@example.com", credits=1, plan="basic"
        )
        async with sessions() as session:
            account = await accounts_repo.account_for_key(session, raw)
        assert account is not None
        guard = IdempotencyGuard(
            sessions, clock, ttl=timedelta(hours=1), wait=0.1, lock=timedelta(minutes=15)
        )
        yield Setup(guard, account.id, clock)
    finally:
        await engine.dispose()


async def test_a_lost_claim_is_taken_over_after_its_lock(setup: Setup) -> None:
    guard, clock = setup.guard, setup.clock
    req = IdempotentRequest(setup.account_id, "k", "f" * 64, "POST /api/v1/imagine")

    async def never() -> Outcome:
        raise AssertionError("must not run")

    # A holder that died without releasing (a killed process): its claim stays behind.
    claim_id = await guard._try_claim(req)
    assert claim_id is not None
    with pytest.raises(KeyInProgress):
        await guard.run(req, never)
    clock.advance(timedelta(minutes=16))
    outcome, replayed = await guard.run(req, lambda: _ok())
    assert (outcome.status, replayed) == (200, False)
    again, replayed = await guard.run(req, never)
    assert (again.body, replayed) == ({"ok": True}, True)


async def _ok() -> Outcome:
    return Outcome(200, {"ok": True})


async def test_sweep_deletes_expired_keys_in_batches(setup: Setup) -> None:
    guard, account_id, clock = setup.guard, setup.account_id, setup.clock
    for i in range(7):
        await guard.run(IdempotentRequest(account_id, f"k{i}", "f", "POST /x"), _ok)
    clock.advance(timedelta(minutes=30))
    await guard.run(IdempotentRequest(account_id, "fresh", "f", "POST /x"), _ok)
    clock.advance(timedelta(minutes=31))
    assert await sweep_expired_keys(guard.sessions, clock, batch=3, batches=2) == 6
    assert await sweep_expired_keys(guard.sessions, clock, batch=3) == 1
    async with guard.sessions() as session:
        left = await session.scalar(select(func.count()).select_from(IdempotencyKey))
    assert left == 1
