"""Ending a task: failing and refunding it, recovering orphans, queueing its webhook.

Every function runs its writes in one transaction, so the task's state, the ledger and the
webhook outbox row commit together or not at all.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from imagine.accounts import repository as accounts_repo
from imagine.clock import Clock
from imagine.db.schema import Task, WebhookDelivery
from imagine.tasks import repository as tasks_repo
from imagine.tasks.views import task_object
from imagine.webhooks import repository as webhooks_repo

log = structlog.get_logger(__name__)


async def enqueue_webhook(
    session: AsyncSession, task: Task, *, public_url: str | None, now: datetime
) -> WebhookDelivery | None:
    """Queue the ended task's webhook (the /fetch shape) in the caller's transaction."""
    if not task.webhook_url:
        return None
    if task.output_name and public_url is None:
        raise ValueError("a finished task's payload needs the public URL")
    payload = task_object(task, public_url or "").model_dump_json()
    return await webhooks_repo.enqueue(
        session,
        task_id=task.id,
        account_id=task.account_id,
        url=task.webhook_url,
        secret=task.webhook_secret,
        payload=payload,
        now=now,
    )


async def fail_and_refund(
    sessions: async_sessionmaker[AsyncSession],
    clock: Clock,
    account_id: str,
    task_id: str,
    price: int,
    error: str,
    status: int,
) -> None:
    """Fail a running task and release its reservation, in one transaction (idempotent)."""
    now = clock.now()
    async with sessions.begin() as session:
        task = await tasks_repo.fail_task(
            session, task_id, error=error, error_status=status, now=now
        )
        if task is not None:
            await accounts_repo.release(session, account_id, price, task_id=task_id, now=now)
            await enqueue_webhook(session, task, public_url=None, now=now)
    log.info("task failed", task_id=task_id, error=error, status=status)


async def recover_orphans(
    sessions: async_sessionmaker[AsyncSession], clock: Clock, max_age: timedelta
) -> int:
    """Fail tasks left running past the reservation timeout (a crash) and refund them."""
    cutoff = clock.now() - max_age
    async with sessions() as session:
        stale = await tasks_repo.stale_running_tasks(session, cutoff)
    for task in stale:
        await fail_and_refund(
            sessions,
            clock,
            task.account_id,
            task.id,
            task.credits_reserved,
            "Task interrupted",
            500,
        )
    return len(stale)
