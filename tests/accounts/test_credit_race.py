"""The ledger under a race: 50 concurrent requests against 80 credits at 8 each."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select

from imagine.accounts import repository as accounts_repo
from imagine.db.schema import Account, LedgerEntry
from imagine.services import Services
from tests.conftest import Api
from tests.support import ImageHost, image_bytes


class NoLimit:
    """A limiter fake that admits everything, so only the ledger decides."""

    async def acquire(self, account_id: str, limit: int) -> str | None:
        return "slot"

    async def release(self, account_id: str, token: str) -> None:
        return None


def _no_limit(services: Services) -> None:
    services.limiter = NoLimit()


@pytest.mark.parametrize("prepare_services", [_no_limit])
async def test_fifty_concurrent_requests_against_eighty_credits(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=80, plan="growth")
    url = image_host.add("/small.png", image_bytes((64, 64), "PNG"))
    headers = {"Authorization": key}
    seen_balances: list[int] = []

    async def watch() -> None:
        for _ in range(40):
            r = await api.client.get("/api/v1/account", headers=headers)
            seen_balances.append(r.json()["credits"])
            await asyncio.sleep(0.01)

    results, _ = await asyncio.gather(
        asyncio.gather(*[api.imagine(key, prompt="blur", image_url=url) for _ in range(50)]),
        watch(),
    )
    codes = [r.status_code for r in results]
    assert codes.count(200) == 10, codes
    assert codes.count(402) == 40, codes
    for r in results:
        if r.status_code == 402:
            assert r.json() == {"errors": [{"msg": "Insufficient credits"}]}
    assert min(seen_balances) >= 0

    account = (await api.client.get("/api/v1/account", headers=headers)).json()
    assert account["credits"] == 0
    assert account["total_images"] == 10

    async with api.sessions() as session:
        row = await session.execute(select(Account).where(Account.email == account["email"]))
        acc = row.scalar_one()
        assert await accounts_repo.ledger_sum(session, acc.id) == 0
        entries = (
            (await session.execute(select(LedgerEntry).where(LedgerEntry.account_id == acc.id)))
            .scalars()
            .all()
        )
    assert all(e.balance_after >= 0 for e in entries)
    kinds = [e.kind for e in entries]
    assert kinds.count("reserve") == 10
    assert kinds.count("commit") == 10
    assert kinds.count("release") == 0


@pytest.mark.parametrize("prepare_services", [_no_limit])
async def test_failures_release_and_ledger_stays_consistent(
    api: Api, image_host: ImageHost
) -> None:
    key = await api.account(credits=40, plan="growth")
    good = image_host.add("/ok.png", image_bytes((64, 64), "PNG"))
    bad = image_host.add("/bad.png", b"not an image")
    bodies = [{"prompt": "blur", "image_url": good if i % 2 else bad} for i in range(12)]
    results = await asyncio.gather(*[api.imagine(key, **b) for b in bodies])
    ok = sum(r.status_code == 200 for r in results)
    assert 1 <= ok <= 5  # 40 credits: at most 5 successes
    assert all(r.status_code in (200, 400, 402) for r in results)
    account = (await api.client.get("/api/v1/account", headers={"Authorization": key})).json()
    assert account["credits"] == 40 - 8 * ok  # every failure gave its reservation back
    async with api.sessions() as session:
        acc = (await session.execute(select(Account))).scalars().one()
        assert await accounts_repo.ledger_sum(session, acc.id) == acc.credits
