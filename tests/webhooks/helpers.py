"""Shared helpers of the webhook tests: waiting on the receiver and on the outbox tables."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.db.schema import WebhookAttempt, WebhookDelivery
from imagine.webhooks.signing import sign
from tests.conftest import Api
from tests.webhooks.receiver import Received

T = TypeVar("T")


class Fixed:
    """A random source that always returns `value` (0.5 means no jitter)."""

    def __init__(self, value: float = 0.5) -> None:
        self.value = value

    def random(self) -> float:
        """The fixed value."""
        return self.value


async def eventually(
    check: Callable[[], Awaitable[T | None]], within: float = 15.0, what: str = "condition"
) -> T:
    """Poll `check` until it returns something truthy (real time; the service runs for real)."""
    deadline = time.monotonic() + within
    while True:
        found = await check()
        if found:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def deliveries(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookDelivery]:
    """Every delivery row, oldest first."""
    async with sessions() as session:
        rows = await session.execute(select(WebhookDelivery).order_by(WebhookDelivery.created_at))
        return list(rows.scalars())


async def attempts(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookAttempt]:
    """Every attempt row, oldest first."""
    async with sessions() as session:
        rows = await session.execute(select(WebhookAttempt).order_by(WebhookAttempt.id))
        return list(rows.scalars())


async def settled_after(api: Api, count: int) -> WebhookDelivery:
    """The one delivery, once `count` attempts are recorded and no attempt is in flight."""

    async def check() -> WebhookDelivery | None:
        rows = await deliveries(api.sessions)
        if len(rows) == 1 and rows[0].attempts == count and rows[0].claim_token is None:
            return rows[0]
        return None

    return await eventually(check, what=f"{count} recorded attempt(s)")


def sync_clock_to_real_time(api: Api) -> None:
    """Move the fake clock to now, so webhook timestamps pass a verifier's freshness check."""
    api.clock.advance(datetime.now(UTC) - api.clock.now())


def signed_with(secret: str, got: Received) -> bool:
    """Whether one of the request's signatures is `secret`'s, for whatever timestamp it has."""
    h = got.headers
    expected = sign(secret, h["webhook-id"], int(h["webhook-timestamp"]), got.body)
    return expected in h["webhook-signature"].split(" ")
