"""Shared helpers of the webhook tests: waiting on the receiver and on the outbox tables."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine import admin
from imagine.clock import SystemClock
from imagine.db.engine import create_engine, session_factory
from imagine.db.migrate import upgrade
from imagine.db.schema import WebhookAttempt, WebhookDelivery
from imagine.tasks import repository as tasks_repo
from imagine.tasks.repository import NewTask
from imagine.tasks.settle import enqueue_webhook
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


async def queue_failed_task_events(
    database_url: str, hook: str, count: int, tag: str = ""
) -> list[str]:
    """`count` failed tasks, each with its outbox row, as the pipeline writes them."""
    engine = create_engine(database_url)
    clock = SystemClock()
    try:
        await upgrade(engine)
        sessions = session_factory(engine)
        await admin.create_account(
            sessions, clock, email=f"w{tag}@example.com", credits=0, plan="basic"
        )
        account_id = (await admin.show_account(sessions, email=f"w{tag}@example.com")).id
        ids = []
        async with sessions.begin() as session:
            for n in range(count):
                new = NewTask(
                    account_id, "flux-kontext-pro", f"p{n}", "1:1", "png", None, hook, None, 0
                )
                task = await tasks_repo.insert_task(session, new, now=clock.now())
                failed = await tasks_repo.fail_task(
                    session, task.id, error="x", error_status=500, now=clock.now()
                )
                assert failed is not None
                delivery = await enqueue_webhook(session, failed, public_url=None, now=clock.now())
                assert delivery is not None
                ids.append(delivery.id)
        return ids
    finally:
        await engine.dispose()
